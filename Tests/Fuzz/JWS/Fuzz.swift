import CCloakroomFuzz
import CloakroomCore

@testable import CloakroomTokens

/// The compact JWS parser and the strict JSON reader behind it: no crash, and the two entry points
/// (the verifier's and the debugging one) agree on what parses.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let token = String(decoding: bytes, as: UTF8.self)
    let compact = try? CompactJWS.parse(token, maximumSize: 8192)
    let unverified = try? UnverifiedToken(decoding: token, maximumSize: 8192)
    if let compact, let unverified {
        precondition(Array(compact.payload) == Array(unverified.payload), "the two parsers decoded different payloads")
    }
    // The same bytes as a JSON document (a header or a payload once decoded).
    _ = StrictJSON.isValid(bytes)
    _ = JSONValue.object(from: bytes)
    return 0
}

@_cdecl("FuzzJWS_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
