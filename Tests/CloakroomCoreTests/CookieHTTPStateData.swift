import Foundation
import Testing

/// Loading of the http-state data.
enum CookieHTTPStateData {
    /// A cookie name/value pair as listed in a case's `sent`.
    struct Pair: Decodable, Hashable, Sendable, CustomStringConvertible {
        let name: String
        let value: String

        var description: String {
            "\(name)=\(value)"
        }
    }

    /// One case of parser.json.
    struct ParserCase: Decodable, Sendable {
        let test: String
        let received: [String]
        let sent: [Pair]
        let sentTo: String?

        enum CodingKeys: String, CodingKey {
            case test, received, sent
            case sentTo = "sent-to"
        }
    }

    /// One case of dates/*.json.
    struct DateCase: Decodable, Sendable, CustomTestStringConvertible {
        let test: String
        let expected: String?

        var testDescription: String {
            test
        }
    }

    /// `/work/main` (or the scratch package) root: this file is `Tests/CloakroomCoreTests/X.swift`.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    static let dataDirectory =
        packageRoot
        .appendingPathComponent("..")
        .appendingPathComponent("shared/testdata/http-state")
        .standardizedFileURL

    static func loadParserCases() throws -> [ParserCase] {
        let data = try Data(contentsOf: dataDirectory.appendingPathComponent("parser.json"))
        return try JSONDecoder().decode([ParserCase].self, from: data)
    }

    /// Loads a dates file; bsd-examples.json starts with `//` comment lines, which are dropped.
    static func loadDateCases(file: String) throws -> [DateCase] {
        let url = dataDirectory.appendingPathComponent("dates").appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        let json = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
            .joined(separator: "\n")
        return try JSONDecoder().decode([DateCase].self, from: Data(json.utf8))
    }

    /// Test arguments; empty if the data is missing (then the loading tests fail).
    static let parserCasesByName: [String: ParserCase] = {
        let cases = (try? loadParserCases()) ?? []
        return Dictionary(cases.map { ($0.test, $0) }, uniquingKeysWith: { first, _ in first })
    }()

    static let parserCaseNames: [String] = ((try? loadParserCases()) ?? []).map(\.test)

    static func dateCases(file: String) -> [DateCase] {
        (try? loadDateCases(file: file)) ?? []
    }
}
