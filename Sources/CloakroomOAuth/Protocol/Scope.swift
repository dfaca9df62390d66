/// A set of OAuth scopes (RFC 6749 §3.3): space-delimited, case-sensitive, order-free.
public struct Scope: Sendable, Hashable, CustomStringConvertible {
    /// The scope tokens.
    public let tokens: Set<String>

    /// Why a scope string is refused.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    public init(_ tokens: some Sequence<String>) {
        self.tokens = Set(tokens)
    }

    /// Parses `text`: tokens separated by single spaces, each of `%x21 / %x23-5B / %x5D-7E`
    /// (printable ASCII but space, `"` and `\`). Empty text is the empty scope.
    public init(parsing text: String) throws(Problem) {
        guard !text.isEmpty else {
            self.tokens = []
            return
        }
        var tokens = Set<String>()
        for token in text.split(separator: " ", omittingEmptySubsequences: false) {
            guard !token.isEmpty, token.utf8.allSatisfy(Self.isScopeCharacter) else {
                throw Problem(description: "scope must be space-separated tokens of printable ASCII without \" or \\")
            }
            tokens.insert(String(token))
        }
        self.tokens = tokens
    }

    /// The tokens sorted, joined by spaces (a stable form for storage and responses).
    public var description: String { tokens.sorted().joined(separator: " ") }

    public var isEmpty: Bool { tokens.isEmpty }

    public func contains(_ token: String) -> Bool { tokens.contains(token) }

    /// Whether every token of this scope is in `other`.
    public func isSubset(of other: Scope) -> Bool { tokens.isSubset(of: other.tokens) }

    static func isScopeCharacter(_ byte: UInt8) -> Bool {
        byte == 0x21 || (0x23...0x5B).contains(byte) || (0x5D...0x7E).contains(byte)
    }
}
