/// An error meaning a backend (database, cache, file system) could not do its job, as opposed to a
/// refusal of the request. The HTTP layer answers these with 503 and `Retry-After`.
public protocol BackendUnavailableError: Error {}
