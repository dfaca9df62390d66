import CloakroomCore
public import Hummingbird

extension Request {
    /// The value of the first cookie called `name` in the request's `Cookie` headers, or nil.
    public func cookie(named name: String) -> String? {
        headers[values: .cookie].lazy.compactMap { CookieHeader.first(named: name, in: $0) }.first
    }
}
