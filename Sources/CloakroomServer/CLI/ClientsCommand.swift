import ArgumentParser
import CloakroomCore
import CloakroomOAuth
import Foundation

/// `cloakroom clients`: the applications that may sign users in with Cloakroom (OAuth 2.1 / OpenID
/// Connect), kept beside the accounts (`--accounts`, SQLite by default).
struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage OAuth clients (applications that sign users in with Cloakroom).",
        subcommands: [Add.self, List.self, Show.self, RotateSecret.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client; a confidential client's secret is printed once (only its hash is kept)."
        )
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The name users see on the consent page") var name: String
        @Option(name: .customLong("redirect"), help: "A redirect URI, matched exactly (repeat for more)") var redirects: [String] = []
        @Flag(name: .customLong("public"), help: "A public client (browser or native app): no secret, PKCE only") var isPublic = false
        @Option(name: .customLong("scope"), help: "Scopes it may ask for, space-separated (default: openid profile email offline_access)")
        var scope: String?
        @Option(name: .customLong("post-logout-redirect"), help: "Where RP-initiated logout may return (repeat for more)")
        var postLogoutRedirects: [String] = []
        @Option(name: .customLong("backchannel-logout"), help: "Where back-channel logout tokens are POSTed") var backchannelLogout: String?
        @Option(name: .customLong("id"), help: "The client_id (default: 16 random bytes, base64url)") var id: String?
        @Option(
            name: .customLong("jwks"),
            help: "A JWK Set file of the client's public keys: it authenticates with private_key_jwt (RFC 7523) and gets no secret"
        )
        var jwksFile: String?
        @Flag(help: "Print the client (and its secret) as JSON") var json = false

        /// Every field checked before anything opens (a refusal prints this command's usage).
        func validate() throws {
            _ = try registration()
        }

        func registration() throws -> (client: OAuthClient, secret: String?) {
            var jwks: String?
            if let jwksFile {
                guard let data = FileManager.default.contents(atPath: jwksFile), let text = String(data: data, encoding: .utf8) else {
                    throw ValidationError("--jwks: cannot read \(jwksFile)")
                }
                jwks = text
            }
            let scopes: Scope
            do {
                scopes = try scope.map { try Scope(parsing: $0) } ?? OAuthClient.defaultScopes
            } catch {
                throw ValidationError("--scope: \(error)")
            }
            do {
                return try OAuthClient.register(
                    name: name,
                    id: id,
                    redirectURIs: redirects,
                    postLogoutRedirectURIs: postLogoutRedirects,
                    scopes: scopes,
                    isPublic: isPublic,
                    backchannelLogoutURI: backchannelLogout,
                    jwks: jwks,
                    now: Date()
                )
            } catch {
                throw ValidationError(error.description)
            }
        }

        func run() async throws {
            let registered = try registration()
            try await withServices(storeOptions) { services in
                do {
                    try await services.backends.clients.insert(registered.client)
                } catch let error as StoreError where error.isDuplicateKey {
                    throw CommandFailure("a client with ID \(registered.client.id) exists already")
                }
            }
            if json {
                print(Clients.json(registered.client, secret: registered.secret))
            } else {
                print("registered client \(registered.client.name)")
                Clients.describe(registered.client)
                if let secret = registered.secret {
                    print(pad("client_secret", 16) + secret)
                    print("The secret is shown only now: store it with the application. Only its hash is kept.")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            try await withServices(storeOptions) { services in
                let clients = try await services.backends.clients.all()
                print(pad("CLIENT_ID", 26) + pad("NAME", 24) + pad("TYPE", 14) + pad("CREATED", 22) + "REDIRECT URIS")
                for client in clients {
                    print(
                        pad(client.id, 26) + pad(client.name, 24) + pad(client.isPublic ? "public" : "confidential", 14)
                            + pad(iso(client.createdAt), 22) + client.redirectURIs.joined(separator: " ")
                    )
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one client (never its secret).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The client_id") var id: String
        @Flag(help: "As JSON") var json = false

        func run() async throws {
            try await withServices(storeOptions) { services in
                let client = try await Clients.require(id, services.backends.clients)
                if json {
                    print(Clients.json(client, secret: nil))
                } else {
                    Clients.describe(client)
                }
            }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Give a confidential client a new secret, printed once; the old one stops working at once."
        )
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The client_id") var id: String
        @Flag(help: "Print the client and its new secret as JSON") var json = false

        func run() async throws {
            try await withServices(storeOptions) { services in
                var client = try await Clients.require(id, services.backends.clients)
                guard !client.isPublic else { throw CommandFailure("\(id) is a public client: it has no secret") }
                guard client.jwks == nil else { throw CommandFailure("\(id) authenticates with private_key_jwt: it has no secret") }
                let (secret, hash) = OAuthClient.newSecret()
                client.secretHash = hash
                client.secretRotatedAt = Date()
                guard try await services.backends.clients.update(client) else { throw CommandFailure("no client \(id)") }
                if json {
                    print(Clients.json(client, secret: secret))
                } else {
                    print(pad("client_id", 16) + client.id)
                    print(pad("client_secret", 16) + secret)
                    print("The old secret no longer works. The new one is shown only now.")
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a client: it can no longer sign anyone in.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The client_id") var id: String

        func run() async throws {
            try await withServices(storeOptions) { services in
                guard let consents = try await services.removeClient(id: id) else { throw CommandFailure("no client \(id)") }
                print("removed client \(id)" + (consents > 0 ? " and \(consents) consent\(consents == 1 ? "" : "s") to it" : ""))
            }
        }
    }

    static func require(_ id: String, _ store: any OAuthClientStore) async throws -> OAuthClient {
        guard let client = try await store.client(id: id) else { throw CommandFailure("no client \(id)") }
        return client
    }

    static func describe(_ client: OAuthClient) {
        print(pad("client_id", 16) + client.id)
        print(pad("name", 16) + client.name)
        let type =
            client.isPublic
            ? "public (PKCE, no secret)" : client.secretHash == nil ? "confidential (private_key_jwt)" : "confidential (client secret)"
        print(pad("type", 16) + type)
        print(pad("redirect URIs", 16) + client.redirectURIs.joined(separator: " "))
        if !client.postLogoutRedirectURIs.isEmpty {
            print(pad("logout URIs", 16) + client.postLogoutRedirectURIs.joined(separator: " "))
        }
        if let uri = client.backchannelLogoutURI { print(pad("back-channel", 16) + uri) }
        print(pad("scopes", 16) + client.scopes.description)
        print(pad("created", 16) + iso(client.createdAt))
        if let rotated = client.secretRotatedAt { print(pad("secret rotated", 16) + iso(rotated)) }
    }

    static func json(_ client: OAuthClient, secret: String?) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("client_id")
        writer.string(client.id)
        if let secret {
            writer.key("client_secret")
            writer.string(secret)
        }
        writer.key("client_name")
        writer.string(client.name)
        writer.key("public")
        writer.bool(client.isPublic)
        writer.key("token_endpoint_auth_method")
        writer.string(client.isPublic ? "none" : client.secretHash == nil ? "private_key_jwt" : "client_secret_basic")
        writer.key("redirect_uris")
        writer.beginArray()
        for uri in client.redirectURIs { writer.string(uri) }
        writer.endArray()
        writer.key("post_logout_redirect_uris")
        writer.beginArray()
        for uri in client.postLogoutRedirectURIs { writer.string(uri) }
        writer.endArray()
        writer.key("scope")
        writer.string(client.scopes.description)
        if let uri = client.backchannelLogoutURI {
            writer.key("backchannel_logout_uri")
            writer.string(uri)
        }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
