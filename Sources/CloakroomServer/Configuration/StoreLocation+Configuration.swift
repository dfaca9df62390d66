import CloakroomCore

extension StoreLocation {
    /// Parses a store URL given as a setting; a URL that names no store is a configuration error
    /// (the command stops with its message).
    static func configured(_ text: String) throws(ConfigurationError) -> StoreLocation {
        do {
            return try StoreLocation(parsing: text)
        } catch {
            throw ConfigurationError(error.description)
        }
    }
}
