public import CloakroomCore
import CloakroomSessions
import Foundation
import NIOCore
import PostgresNIO

/// A PostgreSQL failure, with no session data, key, password or bound value in it.
///
/// The session store turns it into `StoreError.unavailable`; the account and throttle stores
/// throw it as it is (a unique violation on an account becomes `IdentityError.usernameTaken`).
public struct PostgresStoreError: BackendUnavailableError, Sendable, CustomStringConvertible {
    /// What failed: the operation and, for a server error, its SQLSTATE and message; never a value.
    public let message: String
    /// The five-character SQLSTATE the server reported, nil when the failure was not the server's answer.
    public let sqlState: String?
    /// True when the server could not be reached or the connection broke (including timeouts), as
    /// opposed to the server refusing a statement.
    public let isConnectivity: Bool

    init(_ message: String, sqlState: String? = nil, isConnectivity: Bool = false) {
        self.message = message
        self.sqlState = sqlState
        self.isConnectivity = isConnectivity
    }

    /// A unique or primary-key constraint refused the write (SQLSTATE 23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    public var description: String { message }

    static func timedOut(_ what: String, after timeout: Duration) -> PostgresStoreError {
        PostgresStoreError("PostgreSQL \(what) timed out after \(timeout.secondsText) s", isConnectivity: true)
    }

    static let closed = PostgresStoreError("the PostgreSQL database is closed", isConnectivity: true)

    /// Describes `error` without leaking values: SQLSTATE and server message (but never its detail,
    /// which quotes key values), or the kind of connection failure.
    init(wrapping error: any Error, during what: String) {
        switch error {
        case let error as PostgresStoreError:
            self = error
        case let error as PSQLError:
            self.init(psql: error, during: what)
        case let error as PostgresTransactionError:
            let inner: (any Error)? = error.beginError ?? error.closureError ?? error.commitError
            if let inner {
                self.init(wrapping: inner, during: what)
            } else {
                self.init("PostgreSQL transaction failed during \(what)", isConnectivity: true)
            }
        case is CancellationError:
            self.init("PostgreSQL \(what) was cancelled")
        case let error as IOError:
            self.init("cannot reach PostgreSQL during \(what): \(error.description)", isConnectivity: true)
        case let error as ChannelError:
            self.init("PostgreSQL connection failed during \(what): \(error)", isConnectivity: true)
        default:
            // Pool errors (circuit breaker, shutdown) and connection errors from NIO land here.
            self.init("PostgreSQL \(what) failed: \(String(describing: type(of: error)))", isConnectivity: true)
        }
    }

    private init(psql error: PSQLError, during what: String) {
        guard error.code == .server, let info = error.serverInfo else {
            var text = "PostgreSQL \(what) failed: \(error.code)"
            if let underlying = error.underlying {
                text += " (\(Self.safeDescription(of: underlying)))"
            }
            self.init(text, isConnectivity: true)
            return
        }
        let state = info[.sqlState] ?? "?????"
        var text = "PostgreSQL \(what) failed: SQLSTATE \(state)"
        if state == "23505" {
            text += ", unique constraint \(info[.constraintName] ?? "?") violated"
        } else if !state.hasPrefix("22"), let message = info[.message] {
            // Class 22 (data exception) messages may quote the offending value; leave them out.
            text += ": \(message)"
        }
        self.init(text, sqlState: state, isConnectivity: Self.isConnectivityState(state))
    }

    /// Connection exceptions, shutdowns and "too many connections" are the server being away,
    /// not a statement being refused.
    private static func isConnectivityState(_ state: String) -> Bool {
        state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300"
    }

    private static func safeDescription(of error: any Error) -> String {
        switch error {
        case let error as IOError: error.description
        case let error as ChannelError: "\(error)"
        default: String(describing: type(of: error))
        }
    }
}

extension Duration {
    /// Seconds with up to three decimals, for messages.
    var secondsText: String {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)" }
        return String(format: "%.3f", Double(milliseconds) / 1000)
    }

    /// The same span as NIO's `TimeAmount`.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
