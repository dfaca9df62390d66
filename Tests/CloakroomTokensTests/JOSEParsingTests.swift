import CloakroomCore
import Foundation
import Testing

@testable import CloakroomTokens

/// The one-pass JSON parser and base64url decoder of the verification path, checked against
/// the Foundation-based implementations they replaced (kept here as the reference).
@Suite("JOSE parsing")
struct JOSEParsingTests {
    // MARK: Reference implementations (the previous code)

    /// Previous `Base64URL.decode`: Foundation decode, then re-encode and compare.
    static func referenceBase64(_ text: String) -> [UInt8]? {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default:
                return nil
            }
        }
        guard text.utf8.count % 4 != 1, let decoded = Base64URL.decode(text), Base64URL.encode(decoded) == text else { return nil }
        return decoded
    }

    /// Previous `JSONValue.object(from:)`: a duplicate-name scan, then `JSONDecoder`.
    static func referenceObject(_ bytes: [UInt8]) -> [String: JSONValue]? {
        guard !referenceHasDuplicates(bytes),
            let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
            case .object(let members) = value
        else { return nil }
        return members
    }

    static func referenceHasDuplicates(_ bytes: [UInt8]) -> Bool {
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        var objects: [Set<String>?] = []
        var expectingName = false
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"):
                objects.append([])
                expectingName = true
            case UInt8(ascii: "["):
                objects.append(nil)
                expectingName = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !objects.isEmpty { objects.removeLast() }
                expectingName = false
            case UInt8(ascii: ","):
                expectingName = objects.last.map { $0 != nil } ?? false
            case quote:
                let start = index
                index += 1
                var escaped = false
                while index < bytes.count, bytes[index] != quote {
                    if bytes[index] == backslash {
                        escaped = true
                        index += 1
                    }
                    index += 1
                }
                guard index < bytes.count else { return false }
                if expectingName, let last = objects.indices.last, var names = objects[last] {
                    let name: String
                    if escaped {
                        guard let decoded = try? JSONDecoder().decode(String.self, from: Data(bytes[start...index])) else { return false }
                        name = decoded
                    } else {
                        name = String(decoding: bytes[(start + 1)..<index], as: UTF8.self)
                    }
                    guard names.insert(name).inserted else { return true }
                    objects[last] = names
                }
                expectingName = false
            default:
                break
            }
            index += 1
        }
        return false
    }

    // MARK: base64url

    @Test("base64url: every length round-trips; encode and decode match the reference")
    func base64RoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...96 {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let text = Base64URL.encode(bytes)
                #expect(Base64URL.encode(bytes) == text)
                #expect(Base64URL.encode(ArraySlice(bytes)) == text)
                #expect(Base64URL.decodeCanonical(text) == bytes)
                #expect(Self.referenceBase64(text) == bytes)
            }
        }
    }

    @Test("base64url: random strings over the alphabet and beyond agree with the reference")
    func base64Random() {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let extra = Array("+/= .\u{0}\u{7F}".utf8) + [0xC3, 0xA9]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let length = Int.random(in: 0...12, using: &generator)
            let bytes = (0..<length).map { _ in
                Int.random(in: 0..<20, using: &generator) == 0 ? extra.randomElement(using: &generator)! : alphabet.randomElement(using: &generator)!
            }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(Base64URL.decodeCanonical(ArraySlice(bytes)) == Self.referenceBase64(text), "\(text.debugDescription)")
        }
    }

    @Test(
        "base64url: non-canonical, padded and foreign encodings are refused",
        arguments: [
            "QR", "QQ=", "QQ==", "QUI", "QUJ", "Q", "QUJDR", "QUJD=", "QU+D", "QU/D", "QU D", "QUJD\n", "Zg", "Zm9", "Zm9vYg",
        ]
    )
    func base64Refusals(_ text: String) {
        #expect(Base64URL.decodeCanonical(text) == Self.referenceBase64(text))
        if !["QQ", "QUI", "Zg", "Zm9vYg"].contains(text) {
            #expect(Base64URL.decodeCanonical(text) == nil)
        }
    }

    // MARK: JSON

    static let sameAsReference: [String] = [
        #"{}"#, #"{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}"#,
        #"{"iss":"https://auth.example","sub":"u-1","aud":["a","b"],"exp":1767226200,"iat":1767225600,"jti":"x","client_id":"c","scope":"read write","epoch":3}"#,
        " \t\r\n{ \"a\" : 1 , \"b\" :\n[ true , false , null ] } \n",
        #"{"n":1.0}"#, #"{"n":1e2}"#, #"{"n":1.5}"#, #"{"n":-0}"#, #"{"n":-0.0}"#, #"{"n":0.1e1}"#, #"{"n":1e-400}"#,
        #"{"n":12345678901234567890}"#, #"{"n":9223372036854775807}"#, #"{"n":9223372036854775808}"#, #"{"n":-9223372036854775808}"#,
        #"{"n":9007199254740993}"#, #"{"n":2.5E+3}"#, #"{"n":-1.25e-2}"#,
        #"{"n":1E400}"#, #"{"n":01}"#, #"{"n":1.}"#, #"{"n":.5}"#, #"{"n":-}"#, #"{"n":+1}"#, #"{"n":1e}"#, #"{"n":NaN}"#, #"{"n":0x10}"#,
        #"{"s":"\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r"}"#, #"{"s":"é😀"}"#, #"{"s":"\ud800"}"#, #"{"s":"\udc00"}"#, #"{"s":"\ud800\u0041"}"#,
        #"{"s":"\u004"}"#, #"{"s":"\x41"}"#, #"{"s":"\'"}"#, "{\"s\":\"a\tb\"}", "{\"s\":\"a\u{0}b\"}", #"{"s":"\u0000"}"#,
        #"{"s":"unterminated}"#, #"{"s":"a\"}"#,
        #"{"a":1,"a":2}"#, #"{"alg":"EdDSA","al\u0067":"none"}"#, #"{"x":{"a":1,"a":1}}"#, #"{"x":[{"a":1},{"a":1}]}"#,
        #"{"a":{"b":1},"b":2}"#, #"{"\u0061":1,"a":2}"#,
        #"{"a":1} x"#, #"{"a":1}}"#, #"{"a" 1}"#, #"{a:1}"#, #"{'a':1}"#, #"{"a":1;"b":2}"#, #"{"a":tru}"#, #"{"a":True}"#,
        #"[]"#, #"[1,2]"#, #""text""#, #"true"#, #"null"#, #"42"#, "", " ", "{", "}", #"{"a":[1,2}"#, #"{"a":[1 2]}"#,
        #"{"a":1,"b":{"c":[{"d":null}]}}"#,
    ]

    @Test("JSON: the same result as the reference (JSONDecoder with a duplicate-name scan)", arguments: sameAsReference)
    func jsonSameAsReference(_ text: String) {
        let bytes = Array(text.utf8)
        #expect(JSONValue.object(from: bytes) == Self.referenceObject(bytes), "\(text.debugDescription)")
    }

    @Test(
        "JSON: stricter than the reference: trailing commas, byte order marks, comments, deep nesting",
        arguments: [
            #"{"a":1,}"#, #"{"a":[1,]}"#, "\u{FEFF}{}", #"{"a":1 /* c */}"#,
            "{\"a\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}",
        ]
    )
    func jsonStricter(_ text: String) {
        #expect(JSONValue.object(from: Array(text.utf8)) == nil)
    }

    @Test("JSON: invalid UTF-8 is refused")
    func jsonInvalidUTF8() {
        let bytes: [[UInt8]] = [
            Array(#"{"a":""#.utf8) + [0xC3] + Array(#""}"#.utf8),
            Array(#"{"a":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8),
            Array(#"{"a\"#.utf8) + [0xED, 0xA0, 0x80] + Array(#"":1}"#.utf8),
        ]
        for input in bytes {
            #expect(JSONValue.object(from: input) == nil)
            #expect(Self.referenceObject(input) == nil)
        }
    }

    @Test("JSON: values are read as expected")
    func jsonValues() throws {
        let text = #"{"i":-12,"d":0.5,"big":1e3,"s":"al\u0067","t":true,"f":false,"z":null,"a":[1,"x",{"k":[]}]}"#
        let object = try #require(JSONValue.object(from: Array(text.utf8)))
        #expect(object["i"] == .integer(-12))
        #expect(object["d"] == .number(0.5))
        #expect(object["big"] == .integer(1000))
        #expect(object["s"] == .string("alg"))
        #expect(object["t"] == .bool(true))
        #expect(object["f"] == .bool(false))
        #expect(object["z"] == .null)
        #expect(object["a"] == .array([.integer(1), .string("x"), .object(["k": .array([])])]))
    }

    @Test("JSON: nesting up to the limit is accepted, one more is refused")
    func jsonDepth() {
        let depth = JSONValue.maximumDepth
        let ok = String(repeating: "[", count: depth - 1)
        #expect(JSONValue.object(from: Array(("{\"a\":" + ok + String(repeating: "]", count: depth - 1) + "}").utf8)) != nil)
        let deep = String(repeating: "[", count: depth)
        #expect(JSONValue.object(from: Array(("{\"a\":" + deep + String(repeating: "]", count: depth) + "}").utf8)) == nil)
        // A token-sized bomb of brackets fails fast without exhausting the stack.
        #expect(JSONValue.object(from: Array(("{\"a\":" + String(repeating: "[", count: 8000)).utf8)) == nil)
    }
}
