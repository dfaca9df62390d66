/// Parsing of the request `Cookie` header on the server side.
///
/// A user agent sends `name=value` pairs joined by `"; "` (RFC 6265bis sections 4.2.1
/// and 5.8.3). The parser is tolerant of what real clients send and never throws:
/// pairs are split at `;`, surrounding SP/HTAB is removed from each pair, its name and
/// its value, and a pair is skipped when it has no `=` (a nameless cookie) or its name
/// is empty or not a token. Values are kept as sent, including any surrounding DQUOTEs.
public enum CookieHeader {
    /// All name/value pairs in `header`, in order, duplicates included.
    ///
    /// - Parameter header: The `Cookie` field value (without `Cookie:`); several
    ///   fields may be joined with `"; "` (RFC 9113 section 8.2.3).
    public static func parse(_ header: String) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        for piece in Array(header.utf8).split(separator: CookieSyntax.semicolon) {
            guard let equals = piece.firstIndex(of: CookieSyntax.equals) else {
                continue
            }
            let name = CookieSyntax.string(CookieSyntax.trimWhitespace(piece[..<equals]))
            guard CookieSyntax.isToken(name) else {
                continue
            }
            let value = CookieSyntax.string(CookieSyntax.trimWhitespace(piece[(equals + 1)...]))
            pairs.append((name: name, value: value))
        }
        return pairs
    }

    /// The value of the first cookie named `name` (case-sensitive) in `header`, or `nil`.
    ///
    /// The first occurrence is the one with the longest path (RFC 6265bis section 5.8.3
    /// ordering), which is usually the most specific.
    public static func first(named name: String, in header: String) -> String? {
        // The same rules as `parse`, without making a String of every other cookie: a request
        // carries every cookie of its path (up to 4 KB each), and this runs once per lookup.
        let wanted = Array(name.utf8)
        let bytes = Array(header.utf8)
        for piece in bytes.split(separator: CookieSyntax.semicolon) {
            guard let equals = piece.firstIndex(of: CookieSyntax.equals) else { continue }
            let candidate = CookieSyntax.trimWhitespace(piece[..<equals])
            guard candidate.elementsEqual(wanted) else { continue }
            guard CookieSyntax.isToken(CookieSyntax.string(candidate)) else { continue }
            return CookieSyntax.string(CookieSyntax.trimWhitespace(piece[(equals + 1)...]))
        }
        return nil
    }

    /// The value of the first cookie named `name` in `header`, or `nil`; same as `first(named:in:)`.
    public static func value(named name: String, in header: String) -> String? {
        first(named: name, in: header)
    }
}
