import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `cloakroom bench floor`: a Hummingbird server that answers from constants, to measure what the
/// framework under Cloakroom serves on this machine when a request does no work at all.
///
/// `GET /me` answers the response recorded in `--response` (the output of `curl -i` on a real
/// Cloakroom `GET /api/me`): the same status, header fields and body bytes, with nothing looked
/// up. It passes through `--middleware` middleware that only call the next one, added the way
/// Cloakroom adds its own (`router.add(middleware:)`). `POST /login` sets a cookie and `/me`
/// answers 401 without one, so the peers' harness (`../shared/peers/harness/run.sh`) can measure it
/// beside hummingbird-auth and Tomcat. `GET /hello` answers "hi", as the peers' hello does.
/// `scripts/bench-floor.sh` runs it; docs/benchmarks.md has the figures.
struct Floor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A Hummingbird server answering recorded bytes from constants: the framework's ceiling on this machine (a benchmark)."
    )

    @Option(help: "Address to listen on") var host = "127.0.0.1"
    @Option(help: "Port to listen on") var port = 9201
    @Option(help: "A response recorded with curl -i (status line, header fields, blank line, body); default: {\"user\":\"alice\"}")
    var response: String?
    @Option(help: "Pass-through middleware in front of every route") var middleware = 0

    func validate() throws {
        guard (0...64).contains(middleware) else { throw ValidationError("--middleware takes 0 to 64") }
        guard (1...65535).contains(port) else { throw ValidationError("--port takes 1 to 65535") }
    }

    func run() async throws {
        let recorded: RecordedResponse
        if let response {
            guard let data = FileManager.default.contents(atPath: response) else {
                throw ValidationError("cannot read --response \(response)")
            }
            recorded = try RecordedResponse(parsing: Array(data))
        } else {
            recorded = RecordedResponse(
                status: .ok,
                fields: [HTTPField(name: .contentType, value: "application/json; charset=utf-8")],
                body: Array(#"{"user":"alice"}"#.utf8)
            )
        }
        let router = Router(context: BasicRequestContext.self)
        for _ in 0..<middleware { router.add(middleware: PassThroughMiddleware()) }
        router.get("/hello") { _, _ -> String in "hi" }
        router.post("/login") { _, _ -> Response in
            Response(status: .ok, headers: [.setCookie: "floor=1; Path=/; HttpOnly; SameSite=Lax"])
        }
        router.get("/me") { request, _ -> Response in
            guard let cookie = request.headers[.cookie], cookie.contains("floor=1") else {
                return Response(status: .unauthorized)
            }
            return recorded.response()
        }
        var logger = Logger(label: "cloakroom-floor")
        logger.logLevel = .error
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "Cloakroom"),
            logger: logger
        )
        print("floor server on http://\(host):\(port) (\(middleware) pass-through middleware, /me answers \(recorded.body.count) body bytes)")
        try await app.runService()
    }
}

/// A middleware that does nothing but call the next one.
struct PassThroughMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await next(request, context)
    }
}

/// A response read from `curl -i` output: its status, its header fields (without those the server
/// writes itself: `Date`, `Content-Length`, `Server`, `Connection`, `Transfer-Encoding`), its body.
struct RecordedResponse: Sendable {
    let status: HTTPResponse.Status
    let fields: [HTTPField]
    let body: [UInt8]

    init(status: HTTPResponse.Status, fields: [HTTPField], body: [UInt8]) {
        self.status = status
        self.fields = fields
        self.body = body
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    init(parsing bytes: [UInt8]) throws {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.firstRange(of: separator) else {
            throw Malformed(description: "no blank line after the header fields (record it with curl -i)")
        }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, statusLine.hasPrefix("HTTP/"),
            let code = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else {
            throw Malformed(description: "the first line is not an HTTP status line")
        }
        let skipped: Set<String> = ["date", "content-length", "server", "connection", "transfer-encoding"]
        var fields: [HTTPField] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else {
                throw Malformed(description: "not a header field: \(line.prefix(40))")
            }
            if skipped.contains(name.canonicalName) { continue }
            fields.append(HTTPField(name: name, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        self.init(status: HTTPResponse.Status(code: code), fields: fields, body: Array(bytes[end.upperBound...]))
    }

    func response() -> Response {
        Response(status: status, headers: HTTPFields(fields), body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
