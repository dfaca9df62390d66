import CCloakroomFuzz
import NIOCore

@testable import CloakroomRedis

/// The RESP2 reply decoder: no crash, no unbounded allocation, and replies fed in pieces (as a
/// socket delivers them) decode exactly as when fed at once. The first byte chooses the piece size.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size > 1, let data else { return 0 }
    let piece = Int(data[0] % 16) + 1
    let bytes = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let parser = RESPParser(maxBulkLength: 4096, maxDepth: 8, maxArrayCount: 1024, maxLineLength: 1024)

    func decodeAll(pieces: Int) -> ([RESPValue], Bool) {
        var decoder = RESPDecoder(parser: parser)
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + pieces)
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[offset..<end]))
            offset = end
            do {
                while let value = try decoder.next(&buffer) { values.append(value) }
            } catch {
                return (values, true)
            }
        }
        return (values, false)
    }
    let whole = decodeAll(pieces: bytes.count)
    let split = decodeAll(pieces: piece)
    precondition(whole.0 == split.0 && whole.1 == split.1, "pieces of \(piece) bytes decoded differently")
    return 0
}

@_cdecl("FuzzRESP_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
