/// A configuration value that cannot be used; printed to the operator as is.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
