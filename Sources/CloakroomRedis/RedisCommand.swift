import NIOCore

/// One command: an array of bulk strings, the only request form Redis needs.
struct RedisCommand: Sendable {
    /// The command name and its arguments as raw bytes.
    var arguments: [[UInt8]]

    /// A command from text arguments.
    init(_ arguments: String...) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    /// A command from text arguments.
    init(_ arguments: [String]) {
        self.arguments = arguments.map { Array($0.utf8) }
    }

    /// A command from raw arguments.
    init(bytes arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    /// The command name, for messages (never the arguments, which may hold keys or secrets).
    var name: String {
        arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
    }

    /// Writes `*N\r\n` then `$len\r\nbytes\r\n` per argument.
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("*")
        buffer.writeString(String(arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            buffer.writeStaticString("$")
            buffer.writeString(String(argument.count))
            buffer.writeStaticString("\r\n")
            buffer.writeBytes(argument)
            buffer.writeStaticString("\r\n")
        }
    }
}
