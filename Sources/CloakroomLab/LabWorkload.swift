import AsyncHTTPClient
import CloakroomCore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One simulated browser: its own cookie jar, whether it believes it is signed in, and the last
/// session-data write the server acknowledged.
struct LabUser: Sendable {
    var name: String
    var jar = CookieJar()
    var signedIn = false
    var lastWrite: Int?
    var counter = 0

    /// The balancer's stickiness cookie, if one pins this browser.
    func pinnedNode(_ url: URL) -> String? {
        jar.cookies(for: url, now: Date()).first { $0.name == "CLOAKROOM_NODE" }?.value
    }

    /// The session cookie's value (`cloakroom`, or `__Host-cloakroom` over HTTPS).
    func sessionCookie(_ url: URL) -> String? {
        jar.cookies(for: url, now: Date()).first { $0.name == "cloakroom" || $0.name == "__Host-cloakroom" }?.value
    }
}

/// The session data a browser writes and reads back (`{"key": "lab", "value": {"n": …}}`).
struct LabValue: Decodable {
    struct Value: Decodable { var n: Int }
    var value: Value
}

/// The browsers, each used by one request at a time.
actor LabUsers {
    private var users: [LabUser]
    private var busy: [Bool]
    private var cursor = 0

    init(_ users: [LabUser]) {
        self.users = users
        self.busy = Array(repeating: false, count: users.count)
    }

    /// The next idle browser (round robin), marked busy; nil when every one is busy.
    func checkOut() -> (Int, LabUser)? {
        for offset in 0..<users.count {
            let index = (cursor + offset) % users.count
            if !busy[index] {
                busy[index] = true
                cursor = (index + 1) % users.count
                return (index, users[index])
            }
        }
        return nil
    }

    func checkIn(_ index: Int, _ user: LabUser) {
        users[index] = user
        busy[index] = false
    }

    var all: [LabUser] { users }
}

/// What one request came to.
struct LabEvent: Sendable {
    enum Outcome: Sendable { case ok, failed, signedOut, notSent }
    /// `signIn`, `read`, `write`, `signOut`.
    var kind: String
    /// Seconds after the load started (when it was due).
    var at: Double
    var latencyMs: Double
    var outcome: Outcome
}

/// Everything the load recorded, shared by the request tasks.
final class LabRecorder: Sendable {
    private let state = Mutex<(events: [LabEvent], lost: Int, checked: Int)>(([], 0, 0))

    func record(_ event: LabEvent) { state.withLock { $0.events.append(event) } }
    func lostWrite() { state.withLock { $0.lost += 1 } }
    func checkedWrite() { state.withLock { $0.checked += 1 } }
    var events: [LabEvent] { state.withLock { $0.events } }
    var writes: (lost: Int, checked: Int) { state.withLock { ($0.lost, $0.checked) } }
}

/// The HTTP side of a browser: requests through `client`, cookies kept in the user's jar.
struct LabBrowserClient: Sendable {
    let client: HTTPClient
    let base: URL
    /// The session data written with each write (about the session size).
    let padding: String

    struct Answer {
        var status: Int
        var body: ByteBuffer
    }

    /// Sends a request with the user's cookies and keeps the cookies it sets; nil when no
    /// answer came (refused, reset, or 10 s passed).
    func send(
        _ method: HTTPMethod,
        _ path: String,
        json: String? = nil,
        user: inout LabUser,
        to base: URL? = nil,
        headers: [(String, String)] = []
    ) async -> Answer? {
        let target = base ?? self.base
        guard let url = URL(string: path, relativeTo: target)?.absoluteURL else { return nil }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "X-Requested-With", value: "cloakroom-lab")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let cookie = user.jar.cookieHeader(for: url, now: Date()) { request.headers.add(name: "Cookie", value: cookie) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            for header in response.headers["set-cookie"] { user.jar.receive(setCookie: header, from: url, now: Date()) }
            return Answer(status: Int(response.status.code), body: body)
        } catch {
            return nil
        }
    }

    /// One step of `user`'s life, chosen at random: sign in when signed out; else read (who am I,
    /// or the session data), write the session data, or sign out.
    func step(_ user: inout LabUser, due: ContinuousClock.Instant, start: ContinuousClock.Instant, recorder: LabRecorder) async {
        let at = (due - start) / .seconds(1)
        func finish(_ kind: String, _ outcome: LabEvent.Outcome) {
            recorder.record(LabEvent(kind: kind, at: at, latencyMs: (ContinuousClock.now - due) / .milliseconds(1), outcome: outcome))
        }
        func failed(_ answer: Answer?) -> Bool { answer.map { $0.status >= 500 } ?? true }

        guard user.signedIn else {
            let answer = await send(.POST, "/api/login", json: #"{"username":"\#(user.name)","password":"\#(LabRunner.password)"}"#, user: &user)
            if answer?.status == 200 {
                user.signedIn = true
                user.lastWrite = nil
                finish("signIn", .ok)
            } else {
                finish("signIn", .failed)
            }
            return
        }
        let roll = Double.random(in: 0..<1)
        if roll < 0.35 {
            let answer = await send(.GET, "/api/me", user: &user)
            if answer?.status == 200 {
                finish("read", .ok)
            } else if answer?.status == 401 {
                user.signedIn = false
                finish("read", .signedOut)
            } else {
                finish("read", failed(answer) ? .failed : .ok)
            }
        } else if roll < 0.70 {
            let answer = await send(.GET, "/api/session/data/lab", user: &user)
            switch answer?.status {
            case 200:
                if let last = user.lastWrite {
                    recorder.checkedWrite()
                    let seen = answer.flatMap { try? JSONDecoder().decode(LabValue.self, from: Data($0.body.readableBytesView)).value.n } ?? -1
                    if seen < last {
                        recorder.lostWrite()
                        user.lastWrite = seen >= 0 ? seen : nil
                    }
                }
                finish("read", .ok)
            case 404:
                // No value: a write lost, or the whole session (then who-am-I says 401).
                if user.lastWrite != nil {
                    let me = await send(.GET, "/api/me", user: &user)
                    if me?.status == 401 {
                        user.signedIn = false
                        finish("read", .signedOut)
                        return
                    }
                    recorder.checkedWrite()
                    recorder.lostWrite()
                    user.lastWrite = nil
                }
                finish("read", .ok)
            case 401:
                user.signedIn = false
                finish("read", .signedOut)
            default:
                finish("read", failed(answer) ? .failed : .ok)
            }
        } else if roll < 0.95 {
            let before = user.sessionCookie(base)
            let next = user.counter + 1
            let answer = await send(.PUT, "/api/session/data/lab", json: #"{"n":\#(next),"pad":"\#(padding)"}"#, user: &user)
            if answer?.status == 200 {
                if user.sessionCookie(base) != before {
                    // The server made a new session for the write: the signed-in one was gone.
                    user.signedIn = false
                    user.lastWrite = nil
                    finish("write", .signedOut)
                } else {
                    user.counter = next
                    user.lastWrite = next
                    finish("write", .ok)
                }
            } else if answer?.status == 401 {
                user.signedIn = false
                finish("write", .signedOut)
            } else {
                finish("write", failed(answer) ? .failed : .ok)
            }
        } else {
            let answer = await send(.POST, "/api/logout", user: &user)
            if answer?.status == 204 {
                user.signedIn = false
                user.lastWrite = nil
                finish("signOut", .ok)
            } else if answer?.status == 401 {
                user.signedIn = false
                finish("signOut", .signedOut)
            } else {
                finish("signOut", failed(answer) ? .failed : .ok)
            }
        }
    }
}
