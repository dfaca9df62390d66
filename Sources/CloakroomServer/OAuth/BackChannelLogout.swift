import AsyncHTTPClient
import CloakroomCore
import CloakroomOAuth
import CloakroomSessions
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// OpenID Connect Back-Channel Logout 1.0: when a browser session ends here (sign-out, a session
/// revoked from the account page or the API, "sign out everywhere", a password change, a
/// relying party's logout request), every client that signed in through that session and
/// registered a back-channel logout URI gets a logout token POSTed to it, naming the user (`sub`)
/// and the session (`sid`, the same as in the ID tokens it got), so it can end its own session.
///
/// The session remembers which clients it signed in (`clientsKey`); the tokens are sent in the
/// background (each POST waits at most 5 s), so a slow relying party never holds up a sign-out.
struct BackChannelLogout: Sendable {
    /// The session key listing the clients this session signed in, space-separated.
    static let clientsKey = "_oauth_rps"

    let clients: any OAuthClientStore
    let idTokens: IDTokenIssuer
    let logger: Logger

    /// Records that `clientID` signed in through `session` (it got a code).
    static func remember(_ clientID: String, in session: Session) {
        var known = clients(of: session)
        guard known.insert(clientID).inserted else { return }
        session.setValue(known.sorted().joined(separator: " "), forKey: clientsKey)
    }

    /// Sends the logout tokens for sessions that have ended (in the background).
    func ended(_ records: [SessionRecord]) {
        let targets = records.compactMap { record -> (String, String, [String])? in
            guard let user = record.userID else { return nil }
            let clients = Self.clients(in: record.data[Self.clientsKey])
            return clients.isEmpty ? nil : (user, record.handle, clients.sorted())
        }
        guard !targets.isEmpty else { return }
        Task {
            for (user, sid, clientIDs) in targets {
                for clientID in clientIDs { await send(user: user, sid: sid, clientID: clientID) }
            }
        }
    }

    /// Sessions kept in cookies cannot be listed, so after "sign out everywhere" the clients that
    /// signed in through the others are unknown. Every client the user allowed that takes
    /// back-channel logout gets a token naming the user and no session (`sid` absent: all of the
    /// user's sessions there, Back-Channel Logout 1.0 §2.4), except the clients in `sparing` (those
    /// the session that stays signed in used: their sessions may be that browser's).
    func endedEverywhere(userID: String, consents: any ConsentStore, sparing: Set<String>) {
        Task {
            do {
                for consent in try await consents.consents(ofUser: userID) where !sparing.contains(consent.clientID) {
                    await send(user: userID, sid: nil, clientID: consent.clientID)
                }
            } catch {
                logger.warning("back-channel logout: the user's applications could not be read", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The clients `session` signed in (those `remember(_:in:)` recorded).
    static func clients(of session: Session?) -> Set<String> {
        clients(in: session?.value(forKey: clientsKey))
    }

    /// The client IDs of a `clientsKey` value (space-separated).
    static func clients(in list: String?) -> Set<String> {
        Set((list ?? "").split(separator: " ").map(String.init))
    }

    /// One logout token to one client (`sid` nil: every session of the user there); failures are
    /// logged (the client's session outlives ours).
    func send(user: String, sid: String?, clientID: String) async {
        do {
            guard let client = try await clients.client(id: clientID), let uri = client.backchannelLogoutURI else { return }
            let token = try idTokens.logoutToken(subject: user, clientID: clientID, sessionID: sid)
            var request = HTTPClientRequest(url: uri)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: FormURLEncoded.encode([("logout_token", token)])))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            guard (200..<300).contains(response.status.code) else {
                logger.warning("back-channel logout refused", metadata: ["client": "\(clientID)", "status": "\(response.status.code)"])
                return
            }
            logger.info("back-channel logout sent", metadata: ["client": "\(clientID)"])
        } catch {
            logger.warning("back-channel logout failed", metadata: ["client": "\(clientID)", "error": "\(error)"])
        }
    }
}
