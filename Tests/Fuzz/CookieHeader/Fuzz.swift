import CCloakroomFuzz
import CloakroomCore

/// The `Cookie` request header parser: every input parses without a crash, and every cookie it
/// finds is found again by name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let header = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let pairs = CookieHeader.parse(header)
    for pair in pairs.prefix(8) {
        precondition(CookieHeader.first(named: pair.name, in: header) != nil, "a parsed cookie is not found by name")
    }
    _ = CookieHeader.value(named: "cloakroom", in: header)
    return 0
}

@_cdecl("FuzzCookieHeader_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
