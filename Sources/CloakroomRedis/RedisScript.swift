/// A Lua script run with `EVALSHA` (loaded with `SCRIPT LOAD`, reloaded after `NOSCRIPT`).
struct RedisScript: Sendable {
    /// A short name for messages.
    let name: String
    /// The Lua source.
    let source: String
}
