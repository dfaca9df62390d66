import CloakroomOAuth

/// Why `body` was refused: an `OAuthError` as `code: message`, any other error as its
/// description; nil when it succeeded.
func refusal(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch let error as OAuthError {
        return error.code + ": " + error.message
    } catch {
        return "\(error)"
    }
}
