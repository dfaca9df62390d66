import CloakroomHummingbird
import CloakroomSessions
import CloakroomTokens
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Small JSON values kept in the caller's session: a cart, a draft, a preference.
///
/// `GET /api/session/data`, and `GET`/`PUT`/`DELETE /api/session/data/{key}`. A `PUT` creates the
/// session if there is none (its cookie comes back). Keys: 1–64 of `A–Z a–z 0–9 . _ -`, not
/// starting with `_` (reserved). Values: any JSON, at most `maxValueBytes`; the session as a whole
/// is bounded by `SessionConfiguration.maxDataKeys` / `maxDataBytes` (413 beyond them).
/// Concurrent writes of different keys all survive (per-key merge under compare-and-swap).
struct SessionDataRoutes {
    let services: AppServices
    static let maxValueBytes = 8 * 1024

    func addRoutes(to group: RouterGroup<CloakroomRequestContext>) {
        group.get("session/data", use: all)
        group.get("session/data/:key", use: get)
        group.put("session/data/:key", use: put)
        group.delete("session/data/:key", use: delete)
    }

    @Sendable func all(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        var object: [String: Any] = [:]
        for (key, value) in session.data where !key.hasPrefix("_") {
            object[key] = try? JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        }
        return try Self.json(["data": object])
    }

    @Sendable func get(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let key = try Self.validKey(context)
        guard let value = session.value(forKey: key) else {
            throw APIError(.notFound, code: "key_not_found", message: "no value stored under \(key)")
        }
        return Self.raw(key: key, value: value)
    }

    @Sendable func put(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let key = try Self.validKey(context)
        guard Bodies.mediaType(request) == "application/json" else { throw APIError.unsupportedMediaType("application/json") }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: Self.maxValueBytes)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("a session value may be at most \(Self.maxValueBytes) bytes")
        }
        let bytes = Data(buffer.readableBytesView)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw APIError.invalidJSON("body is not valid UTF-8") }
        // Strict RFC 8259: the value is stored and echoed as sent, so what a lenient parser lets
        // through (a trailing comma, a byte-order mark, a repeated member) would come back invalid.
        guard StrictJSON.isValid(Array(bytes)) else {
            throw APIError.invalidJSON("body is not a single JSON value (RFC 8259: no trailing commas, byte-order mark or repeated member names)")
        }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var data = session.data
        data[key] = value
        let limits = services.configuration.sessions
        if data.count > limits.maxDataKeys {
            throw APIError.tooLarge("a session may hold at most \(limits.maxDataKeys) keys")
        }
        if data.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) > limits.maxDataBytes {
            throw APIError.tooLarge("session data may be at most \(limits.maxDataBytes) bytes")
        }
        // Sessions kept in cookies: refused here, before anything changes, when the sealed cookie
        // would pass 4,096 bytes (the browser would drop it).
        do {
            try services.sessions.checkFits(session, data: data)
        } catch let error as SessionError {
            throw APIError.tooLarge(error.message)
        }
        session.setValue(value, forKey: key)
        return Self.raw(key: key, value: value)
    }

    @Sendable func delete(_ request: Request, context: CloakroomRequestContext) async throws -> Response {
        let session = try context.requireSession()
        let key = try Self.validKey(context)
        session.removeValue(forKey: key)
        return Response(status: .noContent)
    }

    static func validKey(_ context: CloakroomRequestContext) throws -> String {
        let key = try context.parameters.require("key")
        let allowed = key.utf8.allSatisfy { byte in
            (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte) || byte == 46 || byte == 95 || byte == 45
        }
        guard (1...64).contains(key.utf8.count), allowed, !key.hasPrefix("_") else {
            throw APIError.invalidField("key", "must be 1–64 of A–Z a–z 0–9 . _ - and not start with _")
        }
        return key
    }

    static func raw(key: String, value: String) -> Response {
        let keyJSON = (try? JSONEncoder().encode(key)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"key":\#(keyJSON),"value":\#(value)}"#))
        )
    }

    static func json(_ object: [String: Any]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
