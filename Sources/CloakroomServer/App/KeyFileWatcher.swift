import CloakroomTokens
import Foundation
import Logging
import ServiceLifecycle

/// Reloads the signing keys when the key file changes (`cloakroom keys rotate` on this machine,
/// or a deployment replacing the file on every node), so rotation needs no restart. A file that
/// does not load (wrong secret, damaged, bad permissions) is logged and the keys stay as they were.
///
/// The file is checked every `interval` (a `stat`, 1 s by default); the ring's
/// `keyFilePickup` (30 s) allows for that and for shared volumes that cache attributes. A next
/// key needs no reload to take over: the ring switches at its activation time, and this watcher
/// only logs the switch.
struct KeyFileWatcher: Service {
    let ring: TokenKeyRing
    let file: URL
    let secret: KeyEncryptionSecret
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var seen = Self.stamp(of: file)
            var signing = await ring.activeKey()?.kid
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                let current = Self.stamp(of: file)
                if current != seen, current != nil {
                    do {
                        try await ring.reload(from: file, secret: secret)
                        seen = current
                        var metadata: Logger.Metadata = ["file": "\(file.path)", "active_kid": "\(await ring.activeKey()?.kid ?? "none")"]
                        if let next = await ring.nextKey(), case .next(let activation) = next.state {
                            metadata["next_kid"] = "\(next.kid)"
                            metadata["next_activates_at"] = "\(activation)"
                        }
                        logger.notice("signing keys reloaded", metadata: metadata)
                    } catch {
                        seen = current  // Report a bad file once, not every interval.
                        logger.error(
                            "key file changed but could not be loaded; keeping the previous keys",
                            metadata: ["file": "\(file.path)", "error": "\(error)"]
                        )
                    }
                }
                let now = await ring.activeKey()?.kid
                if now != signing {
                    logger.notice("token signing key switched", metadata: ["from_kid": "\(signing ?? "none")", "to_kid": "\(now ?? "none")"])
                    signing = now
                }
            }
        }
    }

    /// Modification time and size, or nil when the file is missing.
    static func stamp(of file: URL) -> [String]? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file.path) else { return nil }
        return [
            "\((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)", "\(attributes[.size] ?? 0)",
            "\(attributes[.systemFileNumber] ?? 0)",
        ]
    }
}
