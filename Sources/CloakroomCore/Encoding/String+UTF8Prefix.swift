extension String {
    /// The longest prefix of whole characters whose UTF-8 form is at most `maxBytes` bytes: for
    /// keeping what a client sent (a User-Agent) within a stored bound without splitting a character.
    package func prefix(utf8Bytes maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var kept = ""
        var bytes = 0
        for character in self {
            bytes += character.utf8.count
            if bytes > maxBytes { break }
            kept.append(character)
        }
        return kept
    }
}
