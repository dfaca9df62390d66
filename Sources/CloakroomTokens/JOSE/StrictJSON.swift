/// RFC 8259 JSON, strictly: the parser the token verifier uses, offered to other layers (the
/// server's session data API) that must refuse what lenient parsers let through (trailing
/// commas, a byte-order mark, repeated member names, nesting over 32 levels).
public enum StrictJSON {
    /// Whether `bytes` is exactly one JSON value with only whitespace around it.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONValue.Parser(bytes: buffer)
            return parser.document() != nil
        }
    }
}
