import CloakroomTokens
import Foundation
import Logging
import ServiceLifecycle

/// Reloads the signing keys when the key file changes (`cloakroom keys rotate` on this machine,
/// or a deployment replacing the file on every node), so rotation needs no restart. A file that
/// does not load (wrong secret, damaged, bad permissions) is logged and the keys stay as they were.
struct KeyFileWatcher: Service {
    let ring: TokenKeyRing
    let file: URL
    let secret: KeyEncryptionSecret
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var seen = Self.stamp(of: file)
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                let current = Self.stamp(of: file)
                guard current != seen, current != nil else { continue }
                do {
                    try await ring.reload(from: file, secret: secret)
                    seen = current
                    let active = await ring.activeKey()
                    logger.notice("signing keys reloaded", metadata: ["file": "\(file.path)", "active_kid": "\(active?.kid ?? "none")"])
                } catch {
                    seen = current  // Report a bad file once, not every interval.
                    logger.error("key file changed but could not be loaded; keeping the previous keys", metadata: ["file": "\(file.path)", "error": "\(error)"])
                }
            }
        }
    }

    /// Modification time and size, or nil when the file is missing.
    static func stamp(of file: URL) -> [String]? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file.path) else { return nil }
        return ["\((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)", "\(attributes[.size] ?? 0)", "\(attributes[.systemFileNumber] ?? 0)"]
    }
}
