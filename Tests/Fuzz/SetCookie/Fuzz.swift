import CCloakroomFuzz
import CloakroomCore

/// The `Set-Cookie` response header parser (RFC 6265bis section 5.6): no crash, and what it keeps
/// stays within the parser's limits.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let header = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let cookie = SetCookieParser.parse(header) {
        precondition(cookie.name.utf8.count + cookie.value.utf8.count <= SetCookieParser.maximumNameValueLength, "name and value over the limit")
        precondition(!cookie.name.isEmpty || !cookie.value.isEmpty, "an empty cookie was kept")
    }
    return 0
}

@_cdecl("FuzzSetCookie_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
