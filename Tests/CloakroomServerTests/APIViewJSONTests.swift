import CloakroomCore
import Foundation
import Testing

@testable import CloakroomServer

/// The API's hand-written JSON is byte for byte what JSONEncoder (.sortedKeys, .iso8601) writes.
@Suite("API views: JSONWriter equals JSONEncoder")
struct APIViewJSONTests {
    static func encoder<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    static func writer(_ value: some JSONWritable) -> [UInt8] {
        var writer = JSONWriter()
        value.write(to: &writer)
        return writer.bytes
    }

    static let strings: [String] = {
        var all = ""
        var controls = ""
        for byte in 0..<0x80 { all.append(Character(UnicodeScalar(UInt8(byte)))) }
        for byte in 0..<0x20 { controls.append(Character(UnicodeScalar(UInt8(byte)))) }
        return [
            "", "alice", "curl/7.88.1", all, controls + "é😀\u{2028}\u{7F}", "é😀\u{2028}\u{7F}", "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" \\ back",
        ]
    }()

    static let dates: [Date] = [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_765_000_000.999), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
        Date(timeIntervalSince1970: 4_107_542_399.5), Date(timeIntervalSince1970: 253_402_300_799), Date(timeIntervalSince1970: 253_402_300_800),
        Date(timeIntervalSince1970: -1.5), Date(timeIntervalSince1970: -62_135_596_800), Date(),
    ]

    @Test("sessions, users, tokens and /api/me with every string and date shape")
    func viewsMatchJSONEncoder() throws {
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        for string in Self.strings {
            for date in Self.dates {
                let random = Date(timeIntervalSince1970: Double(generator.next() % 8_000_000_000) / 3.7)
                let session = APIRoutes.SessionView(
                    id: string,
                    current: checked % 2 == 0,
                    createdAt: date,
                    lastSeenAt: random,
                    authenticatedAt: checked % 3 == 0 ? nil : date,
                    expiresAt: random,
                    idleExpiresAt: date,
                    absoluteExpiresAt: random,
                    userAgent: checked % 4 == 0 ? nil : string,
                    ipAddress: checked % 5 == 0 ? nil : string
                )
                let user = APIRoutes.UserView(id: string, username: string)
                let token = APIRoutes.TokenView(
                    clientID: string,
                    scope: string,
                    issuedAt: date,
                    expiresAt: random,
                    sessionID: checked % 2 == 0 ? nil : string
                )
                for me in [
                    APIRoutes.MeView(user: user, session: session, token: nil), APIRoutes.MeView(user: user, session: nil, token: token),
                ] {
                    #expect(Self.writer(me) == (try Self.encoder(me)), "\(String(decoding: Self.writer(me), as: UTF8.self))")
                }
                #expect(Self.writer(session) == (try Self.encoder(session)))
                #expect(Self.writer(token) == (try Self.encoder(token)))
                checked += 1
            }
        }
        #expect(checked == Self.strings.count * Self.dates.count)
    }

    @Test("100,000 random dates from 1970 to 9999 format as Foundation does")
    func datesMatchFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        struct Box: Encodable, JSONWritable {
            let date: Date
            func write(to writer: inout JSONWriter) {
                writer.beginObject()
                writer.key("date")
                writer.date(date)
                writer.endObject()
            }
        }
        for _ in 0..<100_000 {
            let box = Box(date: Date(timeIntervalSince1970: Double(generator.next() % 253_402_300_800_000) / 1000))
            #expect(Self.writer(box) == (try Self.encoder(box)))
        }
    }
}
