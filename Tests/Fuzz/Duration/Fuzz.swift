import CCloakroomFuzz
import CloakroomCore

/// The duration parser of the settings (`90s`, `30m`, `12h`, `7d`): no crash, and every value it
/// accepts is within its documented limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let seconds = DurationText.seconds(text) {
        precondition(seconds >= 0 && seconds <= DurationText.maximumSeconds, "\(seconds) s is outside the limit")
    }
    return 0
}

@_cdecl("FuzzDuration_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
