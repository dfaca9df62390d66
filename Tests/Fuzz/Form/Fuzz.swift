import CCloakroomFuzz
import CloakroomCore

/// The `application/x-www-form-urlencoded` body parser: no crash; a parsed form encoded again
/// parses to the same fields.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let fields = FormURLEncoded.parse(text) else { return 0 }
    let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    func encode(_ text: String) -> String {
        text.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : "%" + String($0, radix: 16, uppercase: true).leftPad() }.joined()
    }
    let again = fields.sorted { $0.key < $1.key }.map { encode($0.key) + "=" + encode($0.value) }.joined(separator: "&")
    precondition(FormURLEncoded.parse(again) == fields, "a form did not survive encoding and parsing again")
    return 0
}

extension String {
    fileprivate func leftPad() -> String { count < 2 ? "0" + self : self }
}

@_cdecl("FuzzForm_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
