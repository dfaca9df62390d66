import CloakroomCore
import CloakroomTokens
import Foundation
import Logging
import ServiceLifecycle

/// Reloads the sealing keys when the sealing key file changes (`cloakroom keys sealing …` on this
/// machine, or a deployment replacing the file on every node), so a rotation needs no restart: the
/// replaceable `ring` (shared by the cookie sessions and the preference cookies) takes the new keys
/// at its next seal or open. A file that does not load is logged once, and the keys stay as they were.
struct SealingKeyFileWatcher: Service {
    let ring: SealingKeyRing
    let file: URL
    let secret: KeyEncryptionSecret
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var seen = KeyFileWatcher.stamp(of: file)
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                let current = KeyFileWatcher.stamp(of: file)
                guard current != seen, current != nil else { continue }
                seen = current
                reload()
            }
        }
    }

    /// Loads the file into the ring; logs what it did.
    func reload() {
        do {
            guard let loaded = try SealingKeyFile.load(file, secret: secret) else { return }
            ring.replaceKeys(with: loaded)
            logger.notice(
                "sealing keys reloaded",
                metadata: ["file": "\(file.path)", "current": "\(loaded.current.id)", "keys": "\(loaded.keys.map(\.id).joined(separator: ","))"]
            )
        } catch {
            logger.error(
                "sealing key file changed but could not be loaded; keeping the previous keys",
                metadata: ["file": "\(file.path)", "error": "\(error)"]
            )
        }
    }
}
