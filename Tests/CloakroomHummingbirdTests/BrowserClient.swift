import CloakroomCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting

/// A test client that keeps the one session cookie a browser would keep for this host.
final class Visitor: @unchecked Sendable {
    let client: any TestClientProtocol
    private var cookie: String?

    init(_ client: any TestClientProtocol) { self.client = client }

    /// The cookie value the visitor holds now, if any.
    var cookieValue: String? { cookie }

    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = "cloakroom=\(cookie)" }
        let response = try await client.executeRequest(uri: uri, method: method, headers: headers, body: nil)
        if let set = response.headers[.setCookie].flatMap(SetCookieParser.parse), set.name == "cloakroom" {
            cookie = (set.maxAge ?? 1) <= 0 ? nil : set.value
        }
        return response
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}
