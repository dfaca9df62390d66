import CCloakroomFuzz
import CloakroomCore

/// The `application/x-www-form-urlencoded` body parser: no crash; a parsed form encoded again
/// parses to the same fields.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let fields = FormURLEncoded.parse(text) else { return 0 }
    var again: [UInt8] = []
    for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
        if !again.isEmpty { again.append(UInt8(ascii: "&")) }
        percentEncode(name, into: &again)
        again.append(UInt8(ascii: "="))
        percentEncode(value, into: &again)
    }
    precondition(FormURLEncoded.parse(String(decoding: again, as: UTF8.self)) == fields, "a form did not survive encoding and parsing again")
    return 0
}

/// Unreserved characters (RFC 3986) as they are, every other byte as %XX.
private func percentEncode(_ text: String, into bytes: inout [UInt8]) {
    let hex = Array("0123456789ABCDEF".utf8)
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            bytes.append(byte)
        default:
            bytes.append(UInt8(ascii: "%"))
            bytes.append(hex[Int(byte >> 4)])
            bytes.append(hex[Int(byte & 0xF)])
        }
    }
}

@_cdecl("FuzzForm_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
