/// What a page template renders: the header every page shares (the `head` partial reads `title`,
/// `bare`, `user`, `csrf` and `registrationOpen`) and the page's own typed model under `page`
/// (each template's body is one `{{#page}}` section; names not found in it fall through to the
/// header values, so `{{#user}}` works inside it too).
struct PageView<Content: Sendable>: Sendable {
    /// The `<title>`, before " · Cloakroom".
    let title: String
    /// Links to /register only when registration is open.
    let registrationOpen: Bool
    /// The signed-in visitor, nil for anonymous visitors and on bare pages.
    let user: PageUser?
    /// The session's CSRF token, for pages with forms and for the header's sign-out form.
    let csrf: String?
    /// A page rendered without knowing the visitor (errors outside the page routes).
    let bare: Bool
    /// The page's own values.
    let page: Content
}

/// The signed-in visitor as the header shows them.
struct PageUser: Sendable {
    let username: String
}

/// `home`: the session's timeouts, in words.
struct HomePage: Sendable {
    let idleText: String
    let absoluteText: String
}

/// `login` and `register`: a notice or a refusal, the username typed (kept on a refusal), and the
/// password policy's minimum length.
struct FormPage: Sendable {
    var notice: String? = nil
    var error: String? = nil
    var username: String? = nil
    var minPassword: Int? = nil
    /// The application the visitor signs in for (an OAuth authorization request is waiting).
    var application: String? = nil
    /// Other OpenID providers to sign in with (a button each).
    var providers: [ProviderRow] = []
    var hasProviders = false
}

/// One other OpenID provider, on the sign-in and account pages.
struct ProviderRow: Sendable {
    let name: String
    /// On the account page: when the account was linked to it, or nil.
    var linked: String? = nil
}

/// `account`: the visitor's sessions and the password form.
struct AccountPage: Sendable {
    /// One row of the sessions table.
    struct SessionRow: Sendable {
        let handle: String
        let current: Bool
        /// Signed in by a remember cookie, not a typed password.
        let remembered: Bool
        let userAgent: String
        let userAgentFull: String
        let device: String
        let ipAddress: String
        let created: String
        let lastSeen: String
        let expires: String
    }

    let username: String
    let idleText: String
    let absoluteText: String
    let currentExpiry: String?
    let sessionCount: Int
    let sessions: [SessionRow]
    let notice: String?
    let error: String?
    let passwordError: String?
    let minPassword: Int
    /// Ending other sessions needs the password again (the sign-in is over 5 minutes old).
    let needsPassword: Bool
    /// Sessions live in cookies (`--store cookie`): only this device's session can be listed.
    var sessionsInCookies = false
    /// The browsers a remember cookie keeps signed in, most recently used first.
    var rememberedDevices: [DeviceRow] = []
    var hasRememberedDevices = false

    /// One remembered device ("keep me signed in").
    struct DeviceRow: Sendable {
        let id: String
        let current: Bool
        let label: String
        let labelFull: String
        let lastUsed: String
        let expires: String
    }
    /// The OAuth clients the visitor allowed, most recent first.
    var applications: [ApplicationRow] = []
    /// Stored, not computed: templates read values by reflection.
    var hasApplications = false
    /// The other OpenID providers, linked or not.
    var providers: [ProviderRow] = []
    var hasProviders = false
    /// The theme choices, the one in the preference cookie selected.
    var themes: [ThemeChoice] = []

    struct ThemeChoice: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    /// One application the visitor allowed to sign them in (an OAuth consent).
    struct ApplicationRow: Sendable {
        let clientID: String
        let name: String
        let scopes: String
        let granted: String
    }
}

/// `error`: what went wrong, and where to go next.
struct ErrorPage: Sendable {
    /// A link under the message.
    struct Link: Sendable {
        let href: String
        let text: String
    }

    let heading: String
    let message: String
    var link: Link? = nil
}

/// `consent`: an application asks to use the account (OAuth's consent page).
struct ConsentPage: Sendable {
    /// One scope asked for, in words.
    struct ScopeRow: Sendable {
        let name: String
        let text: String
    }

    let clientName: String
    let clientID: String
    /// Where the browser goes afterwards: the redirect URI's origin.
    let destination: String
    let username: String
    /// What is asked that the user has not allowed this client before.
    let scopes: [ScopeRow]
    /// `prompt=consent` with nothing new: the page asks again for what was allowed.
    let nothingNew: Bool
    /// The authorization request's query, sent back with the decision.
    let request: String
}

/// `endSession`: a relying party asked to sign the browser out (RP-initiated logout).
struct EndSessionPage: Sendable {
    let clientName: String?
    let clientID: String
    let username: String
    /// Where the browser goes afterwards (a registered post-logout redirect URI), or empty.
    let redirectURI: String
    let state: String
}

/// `adminClients`: the registered OAuth clients, the form to add one, and a secret shown once.
struct AdminClientsPage: Sendable {
    struct Row: Sendable {
        let id: String
        let name: String
        let type: String
        let redirects: String
        let scopes: String
        let hasSecret: Bool
    }

    /// A client just registered or given a new secret; `secret` nil for a public client.
    struct Secret: Sendable {
        let clientID: String
        let secret: String?
    }

    let clients: [Row]
    let hasClients: Bool
    let notice: String?
    let error: String?
    let secret: Secret?
    let needsPassword: Bool
}
