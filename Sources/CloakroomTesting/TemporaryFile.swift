import Foundation

/// Paths for SQLite files in the temporary folder, and their removal with the `-wal` and `-shm`
/// files SQLite creates beside them.
public enum TemporaryFile {
    /// A new path `cloakroom-NAME-UUID.sqlite` in the temporary folder (nothing is created).
    public static func path(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cloakroom-\(name)-\(UUID().uuidString).sqlite").path
    }

    /// Removes the file at `path` and its `-wal` and `-shm` companions, if they exist.
    public static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
