import CloakroomTesting
import CloakroomTokens
import Testing

@Suite("TokenStore conformance (memory)")
struct MemoryTokenStoreConformanceTests {
    @Test("memory", arguments: TokenStoreConformance.checkNames)
    func memory(_ check: String) async throws {
        try await TokenStoreConformance.run(only: [check]) { MemoryTokenStore() }
    }
}
