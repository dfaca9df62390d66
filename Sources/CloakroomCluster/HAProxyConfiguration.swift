/// The HAProxy configuration `cloakroom cluster up` writes (`haproxy.cfg` in the cluster's folder).
///
/// - `timeout server 5s`: a request already sent to a node that then hangs fails after 5 s (504)
///   instead of holding the browser; a sign-in takes well under a second.
/// - Health checks: `GET /healthz` every 300 ms, a server is down after 2 failed checks and each
///   check gives up after 400 ms, so a killed node (connection refused) is out within about 0.6 s and
///   a hung one (no answer) within about 1.4 s; a node that drains (503 on SIGTERM) is out as fast.
/// - `option redispatch 1` with `retries 2`: every retry of a request whose server cannot be
///   reached goes to another server, and a browser pinned to a dead node is re-pinned instead of stuck. In the
///   `replicated` and `backup` topologies a 503 is retried on another node too (`retry-on
///   conn-failure empty-response 503`): a node answers 503 only before it acts (it is catching
///   up, or it was stopped and is not sure of what it holds), so the request is safe to replay.
/// - `X-Forwarded-For` is set to the client's address (never appended to one the client sent); the
///   nodes trust it from loopback (`--trusted-proxy 127.0.0.1`).
/// - `sticky`: cookie-insert stickiness, `cookie CLOAKROOM_NODE insert indirect nocache httponly`
///   (plus `secure` when the cluster is served over HTTPS); `central`: round robin, no cookie.
/// - With a certificate (`tlsCertificate`): users connect over HTTPS (`bind … ssl crt FILE`), and
///   HAProxy sets `X-Forwarded-Proto: https` for the nodes.
/// - When no node is up, HAProxy answers 503 with `Retry-After: 1` and a JSON body
///   (`errorfile 503`), never its HTML page.
/// - `/metrics` is refused at the balancer: each node's figures are for its operator, read on the
///   node's own port.
public struct HAProxyConfiguration: Sendable {
    public var topology: ClusterTopology
    public var port: Int
    public var statsPort: Int
    /// Node name and port, in order.
    public var nodes: [(name: String, port: Int)]
    /// Adds `secure` to the stickiness cookie.
    public var secureCookie = false
    /// A PEM file with the certificate chain and its key: users connect over HTTPS.
    public var tlsCertificate: String?
    /// HAProxy's runtime socket (`show stat`, `disable server`), in the cluster's folder.
    public var socketPath: String
    /// The file HAProxy answers with when no node is up (see `unavailableResponse`).
    public var unavailablePath: String?

    public init(
        topology: ClusterTopology,
        port: Int,
        statsPort: Int,
        nodes: [(name: String, port: Int)],
        socketPath: String,
        secureCookie: Bool = false
    ) {
        self.topology = topology
        self.port = port
        self.statsPort = statsPort
        self.nodes = nodes
        self.socketPath = socketPath
        self.secureCookie = secureCookie
    }

    /// What HAProxy answers when no node is up (every node failing its health check, as during a
    /// store failover): 503 with `Retry-After: 1` and the same JSON error shape the nodes use, so
    /// clients see one kind of "try again shortly".
    public static let unavailableResponse =
        "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\r\n"
        + #"{"error":"service_unavailable","message":"no node can serve requests right now: try again shortly"}"# + "\n"

    /// The name of HAProxy's stickiness cookie.
    public static let stickyCookie = "CLOAKROOM_NODE"

    /// The configuration file's text.
    public func render() -> String {
        var lines: [String] = [
            "# Written by `cloakroom cluster up` (\(topology.rawValue) topology). Rewritten by every `up`.",
            "global",
            "    maxconn 4096",
            "    stats socket \(socketPath) mode 600 level admin",
            "",
            "defaults",
            "    mode http",
            "    option http-keep-alive",
            "    timeout connect 1s",
            "    timeout client 30s",
            "    timeout server 5s",
            "    timeout check 400ms",
            "    option redispatch 1",
            "    retries 2",
        ]
        if let unavailablePath { lines.append("    errorfile 503 \(unavailablePath)") }
        lines += [
            "",
            "frontend users",
            "    bind 127.0.0.1:\(port)" + (tlsCertificate.map { " ssl crt \($0)" } ?? ""),
            "    http-request set-header X-Forwarded-For %[src]",
            "    http-request set-header X-Forwarded-Proto \(tlsCertificate == nil ? "http" : "https")",
            // `//metrics` and `/%6detrics` reach the same route on a node: match them all.
            "    http-request deny deny_status 403 if { path,url_dec -m reg -i ^/+metrics }",
            "    default_backend nodes",
            "",
            "backend nodes",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "    http-check expect status 200",
        ]
        if topology.replicates {
            lines.append("    retry-on conn-failure empty-response 503")
        }
        if topology.pinsBrowsers {
            lines.append("    cookie \(Self.stickyCookie) insert indirect nocache httponly\(secureCookie ? " secure" : "")")
        }
        for node in nodes {
            let cookie = topology.pinsBrowsers ? " cookie \(node.name)" : ""
            lines.append("    server \(node.name) 127.0.0.1:\(node.port) check inter 300ms fall 2 rise 2\(cookie)")
        }
        lines += [
            "",
            "listen stats",
            "    bind 127.0.0.1:\(statsPort)",
            "    stats enable",
            "    stats uri /stats",
            "    stats refresh 5s",
            "",
        ]
        return lines.joined(separator: "\n")
    }
}
