import CCloakroomFuzz
import CloakroomCore
import CloakroomPostgres
import CloakroomRedis

/// The store-URL parsers (`--store`, `--accounts`): the scheme dispatch, the Redis and the
/// PostgreSQL URL parsers, and the redaction used in logs. No crash; a password the parsers found
/// never appears as the password in what is logged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let location = try? StoreLocation(parsing: text)
    let logged = StoreLocation.redacted(text)
    _ = location?.description
    if let redis = try? RedisConfiguration(url: text), let password = redis.password {
        // The description must not depend on the password at all (comparing texts instead gives
        // false alarms: a password of "***", or one whose text the user name also holds).
        var other = redis
        other.password = password == "a" ? "b" : "a"
        precondition(other.description == redis.description, "the Redis description shows the password")
        precondition(redis.description.contains(":***@"), "the Redis description does not mark the password")
    }
    if let postgres = try? CloakroomPostgresDatabase.Configuration(url: text) {
        _ = postgres.description
    }
    _ = logged
    return 0
}

@_cdecl("FuzzStoreURL_main")
func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    cloakroom_fuzz_main(argc, argv) { fuzz($0, $1) }
}
