import CloakroomCore
import CloakroomHummingbird
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Request-body helpers shared by pages and the API: bounded collection, content types, decoding.
enum Bodies {
    /// Largest form or JSON body the routes accept.
    static let maxBytes = 64 * 1024

    static func collect(_ request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("request body exceeds \(maxBytes) bytes")
        }
    }

    static func mediaType(_ request: Request) -> String? {
        request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }

    /// Decodes a JSON body into `T`, with 415/413/400 errors that name the problem.
    static func json<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        guard mediaType(request) == "application/json" else { throw APIError.unsupportedMediaType("application/json") }
        let buffer = try await collect(request)
        let bytes = Data(buffer.readableBytesView)
        guard String(validating: bytes, as: UTF8.self) != nil else { throw APIError.invalidJSON("body is not valid UTF-8") }
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch DecodingError.keyNotFound(let key, _) {
            throw APIError.invalidField(key.stringValue, "is required")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.invalidField(path.isEmpty ? "body" : path, "has the wrong type")
        } catch {
            throw APIError.invalidJSON("body is not valid JSON")
        }
    }

    /// The `password` of an optional JSON body (`{"password": "…"}`), for requests such as DELETE
    /// that usually carry none; nil when the body is empty.
    static func optionalPassword(from request: Request) async throws -> String? {
        struct Reauthentication: Decodable { let password: String? }
        guard request.headers[.contentLength].map({ $0 != "0" }) ?? (request.headers[.transferEncoding] != nil) else { return nil }
        return try await json(Reauthentication.self, from: request).password
    }

    /// Decodes an `application/x-www-form-urlencoded` body (first value wins per name).
    static func form(from request: Request) async throws -> [String: String] {
        guard mediaType(request) == "application/x-www-form-urlencoded" else {
            throw APIError.unsupportedMediaType("application/x-www-form-urlencoded")
        }
        let buffer = try await collect(request)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw APIError(.badRequest, code: "invalid_form", message: "form body is not valid UTF-8")
        }
        guard let fields = FormURLEncoded.parse(text) else {
            throw APIError(.badRequest, code: "invalid_form", message: "form body has a malformed percent-encoding")
        }
        return fields
    }
}
