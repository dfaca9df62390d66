import Mustache

/// The web pages' templates, stylesheet and script, compiled into the binary so `cloakroom` runs
/// from any directory.
///
/// Every template but `error` takes `registrationOpen` (links to /register only when it is); pages
/// for a signed-in visitor take `user` and `csrf` (the header's sign-out form).
enum Templates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in all {
            try library.register(text, named: name)
        }
        return library
    }

    static let all: [String: String] = [
        "head": head, "foot": foot, "home": home, "login": login, "register": register, "account": account, "error": error,
        "consent": consent, "endSession": endSession, "adminClients": adminClients,
    ]

    /// `bare`: a page rendered without knowing the visitor (errors outside the page routes): the
    /// header shows no sign-in state.
    static let head = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Cloakroom</title>
        <link rel="stylesheet" href="/assets/cloakroom.css">
        <script src="/assets/cloakroom.js" defer></script>
        </head>
        <body>
        <header><div class="bar">
          <a class="brand" href="/">Cloakroom</a>
          <nav>
            {{^bare}}
            {{#user}}<span class="muted">{{username}}</span><a href="/account">Account</a>
            <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{csrf}}"><button class="secondary" type="submit">Sign out</button></form>{{/user}}
            {{^user}}<a href="/login">Sign in</a>{{#registrationOpen}}<a href="/register">Register</a>{{/registrationOpen}}{{/user}}
            {{/bare}}
          </nav>
        </div></header>
        <main>
        """

    static let foot = """
        </main>
        </body>
        </html>
        """

    static let home = """
        {{> head}}
        {{#page}}
        <div class="card">
          {{#user}}
          <h1>Welcome back, {{username}}</h1>
          <p>You are signed in. Your session ends after {{idleText}} without activity, and at the latest {{absoluteText}} after you signed in.</p>
          <div class="actions"><a class="button" href="/account">Your account and sessions</a></div>
          {{/user}}
          {{^user}}
          <h1>Cloakroom</h1>
          <p>Hand in your coat, keep the ticket: the server keeps your session, your browser keeps only an opaque ID in a cookie it will not show to scripts.</p>
          <p class="muted">You are not signed in.</p>
          <div class="actions"><a class="button" href="/login">Sign in</a>{{#registrationOpen}}<a href="/register">Create an account</a>{{/registrationOpen}}</div>
          {{/user}}
        </div>
        {{/page}}
        {{> foot}}
        """

    static let login = """
        {{> head}}
        {{#page}}
        <div class="card narrow">
          <h1>Sign in</h1>
          {{#application}}<p class="notice" role="status">Sign in to continue to <strong>{{application}}</strong>.</p>{{/application}}
          {{#notice}}<div class="notice" role="status">{{notice}}</div>{{/notice}}
          {{#error}}<div class="error" role="alert">{{error}}</div>{{/error}}
          <form method="post" action="/login">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="username">Username</label>
            <input id="username" name="username" type="text" autocomplete="username" value="{{username}}" required autofocus>
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required>
            <label class="choice"><input type="checkbox" name="remember"> Keep me signed in on this device</label>
            <div class="actions"><button type="submit">Sign in</button>{{#registrationOpen}}<a href="/register">Create an account</a>{{/registrationOpen}}</div>
          </form>
          {{#hasProviders}}<div class="actions providers"><span class="muted">Or:</span>{{#providers}}<a class="button secondary" href="/login/with/{{name}}">Sign in with {{name}}</a>{{/providers}}</div>{{/hasProviders}}
        </div>
        {{/page}}
        {{> foot}}
        """

    static let consent = """
        {{> head}}
        {{#page}}
        <div class="card narrow">
          <h1>Allow {{clientName}}?</h1>
          <p><strong>{{clientName}}</strong> <span class="muted">({{clientID}})</span> asks to use your account <strong>{{username}}</strong>.</p>
          {{#nothingNew}}<p>It asks you to confirm what you allowed it before.</p>{{/nothingNew}}
          {{^nothingNew}}<p>If you allow it, it will be able to:</p>
          <ul class="scopes">{{#scopes}}<li><code>{{name}}</code>: {{text}}</li>{{/scopes}}</ul>{{/nothingNew}}
          <p class="muted">Then you will be sent back to {{destination}}. You can withdraw this permission later from your account page. Cloakroom never shares your password.</p>
          <form method="post" action="/authorize">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <input type="hidden" name="request" value="{{request}}">
            <div class="actions"><button type="submit" name="decision" value="allow">Allow</button><button class="secondary" type="submit" name="decision" value="deny">Deny</button></div>
          </form>
        </div>
        {{/page}}
        {{> foot}}
        """

    static let endSession = """
        {{> head}}
        {{#page}}
        <div class="card narrow">
          <h1>Sign out of Cloakroom?</h1>
          {{#clientName}}<p><strong>{{clientName}}</strong> asks to sign you out.</p>{{/clientName}}
          <p>You are signed in as <strong>{{username}}</strong>. Signing out ends this browser's session here; your other devices stay signed in.</p>
          <form method="post" action="/end-session">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <input type="hidden" name="client_id" value="{{clientID}}">
            <input type="hidden" name="post_logout_redirect_uri" value="{{redirectURI}}">
            <input type="hidden" name="state" value="{{state}}">
            <div class="actions"><button type="submit" name="decision" value="logout">Sign out</button><button class="secondary" type="submit" name="decision" value="stay">Stay signed in</button></div>
          </form>
        </div>
        {{/page}}
        {{> foot}}
        """

    static let adminClients = """
        {{> head}}
        {{#page}}
        <div class="card">
          <h1>Applications</h1>
          {{#notice}}<div class="notice" role="status">{{notice}}</div>{{/notice}}
          {{#error}}<div class="error" role="alert">{{error}}</div>{{/error}}
          {{#secret}}<div class="notice" role="status">client_id <code id="new-client-id">{{clientID}}</code>{{#secret}}, client_secret <code id="new-client-secret">{{secret}}</code>. The secret is shown only now: copy it to the application. Only its hash is kept.{{/secret}}</div>{{/secret}}
          {{^hasClients}}<p class="muted">No application is registered.</p>{{/hasClients}}
          {{#hasClients}}<table class="sessions">
            <thead><tr><th>Name</th><th>client_id</th><th>Type</th><th>Redirect URIs</th><th>Scopes</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
            {{#clients}}
            <tr id="client-{{id}}"><td data-label="Name">{{name}}</td><td data-label="client_id"><code>{{id}}</code></td><td data-label="Type">{{type}}</td><td data-label="Redirect URIs">{{redirects}}</td><td data-label="Scopes">{{scopes}}</td>
              <td class="row-actions">{{#hasSecret}}<form class="inline" method="post" action="/admin/clients/rotate-secret"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="client_id" value="{{id}}">{{#needsPassword}}<input type="password" name="password" required autocomplete="current-password" placeholder="Your password" aria-label="Your password">{{/needsPassword}}<button class="secondary" type="submit">New secret</button></form>{{/hasSecret}}
              <form class="inline" method="post" action="/admin/clients/remove"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="client_id" value="{{id}}">{{#needsPassword}}<input type="password" name="password" required autocomplete="current-password" placeholder="Your password" aria-label="Your password">{{/needsPassword}}<button class="danger" type="submit" aria-label="Remove {{name}}">Remove</button></form></td></tr>
            {{/clients}}
            </tbody>
          </table>{{/hasClients}}
        </div>
        <div class="card narrow">
          <h2>Register an application</h2>
          <form method="post" action="/admin/clients">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="name">Name (shown on the consent page)</label>
            <input id="name" name="name" type="text" required maxlength="100">
            <label for="redirect_uris">Redirect URIs, one per line (matched exactly)</label>
            <textarea id="redirect_uris" name="redirect_uris" rows="3" required></textarea>
            <label for="scope">Scopes it may ask for, separated by spaces (default: openid profile email offline_access)</label>
            <input id="scope" name="scope" type="text">
            <label for="post_logout_redirect_uris">Post-logout redirect URIs, one per line (optional)</label>
            <textarea id="post_logout_redirect_uris" name="post_logout_redirect_uris" rows="2"></textarea>
            <label for="backchannel_logout_uri">Back-channel logout URI (optional)</label>
            <input id="backchannel_logout_uri" name="backchannel_logout_uri" type="url">
            <label><input type="checkbox" name="public"> Public (a browser or native app: no secret, PKCE only)</label>
            {{#needsPassword}}<label for="password">Your password</label><input id="password" name="password" type="password" required autocomplete="current-password">{{/needsPassword}}
            <div class="actions"><button type="submit">Register</button></div>
          </form>
        </div>
        {{/page}}
        {{> foot}}
        """

    static let register = """
        {{> head}}
        {{#page}}
        <div class="card narrow">
          {{#registrationOpen}}
          <h1>Create an account</h1>
          {{#error}}<div class="error" role="alert">{{error}}</div>{{/error}}
          <form method="post" action="/register">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="username">Username</label>
            <input id="username" name="username" type="text" autocomplete="username" value="{{username}}" required autofocus>
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="new-password" minlength="{{minPassword}}" required>
            <p class="muted">At least {{minPassword}} characters.</p>
            <div class="actions"><button type="submit">Create account</button><a href="/login">I have an account</a></div>
          </form>
          {{/registrationOpen}}
          {{^registrationOpen}}
          <h1>Registration is closed</h1>
          <p>This server does not take new accounts. If you already have one, sign in.</p>
          <div class="actions"><a class="button" href="/login">Sign in</a></div>
          {{/registrationOpen}}
        </div>
        {{/page}}
        {{> foot}}
        """

    static let account = """
        {{> head}}
        {{#page}}
        <div class="card">
          <h1>Your account</h1>
          {{#notice}}<div class="notice" role="status">{{notice}}</div>{{/notice}}
          {{#error}}<div class="error" role="alert">{{error}}</div>{{/error}}
          <p>Signed in as <strong>{{username}}</strong>. This session expires at {{currentExpiry}} unless you keep using it (idle limit {{idleText}}, hard limit {{absoluteText}}).</p>
        </div>
        <div class="card">
          <h2>Your sessions{{^sessionsInCookies}} ({{sessionCount}}){{/sessionsInCookies}}</h2>
          {{#sessionsInCookies}}<p class="muted" id="cookie-sessions-note">This server keeps your session in your browser's cookie, not on the server, so it cannot see or list the other devices where you are signed in. Only this one is shown. “Sign out everywhere else” still ends all the others at once.</p>{{/sessionsInCookies}}
          <table class="sessions">
            <thead><tr><th>Device</th><th>Address</th><th>Signed in</th><th>Last active</th><th>Expires</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
            {{#sessions}}
            <tr id="session-{{handle}}">
              <td class="ua" data-label="Device" title="{{userAgentFull}}">{{userAgent}} {{#current}}<span class="tag">this device</span>{{/current}}{{#remembered}} <span class="tag">remembered</span>{{/remembered}}</td>
              <td data-label="Address">{{ipAddress}}</td>
              <td data-label="Signed in">{{created}}</td>
              <td data-label="Last active">{{lastSeen}}</td>
              <td data-label="Expires">{{expires}}</td>
              <td class="row-actions">{{^current}}<form class="inline" method="post" action="/account/sessions/revoke"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="handle" value="{{handle}}">{{#needsPassword}}<input type="password" name="password" required autocomplete="current-password" placeholder="Your password" aria-label="Your password, to end this session">{{/needsPassword}}<button class="danger" type="submit" aria-label="Revoke the session on {{device}}, last active {{lastSeen}}">Revoke</button></form>{{/current}}</td>
            </tr>
            {{/sessions}}
            </tbody>
          </table>
          <div class="actions">
            <form class="inline" method="post" action="/account/sessions/revoke-others"><input type="hidden" name="csrf_token" value="{{csrf}}">{{#needsPassword}}<input type="password" name="password" required autocomplete="current-password" placeholder="Your password" aria-label="Your password, to sign out everywhere else">{{/needsPassword}}<button class="danger" type="submit">Sign out everywhere else</button></form>
            <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{csrf}}"><button class="secondary" type="submit">Sign out</button></form>
          </div>
        </div>
        <div class="card" id="remembered-devices">
          <h2>Devices that keep you signed in</h2>
          {{^hasRememberedDevices}}<p class="muted">No device keeps you signed in. Tick “Keep me signed in on this device” when you sign in to have one.</p>{{/hasRememberedDevices}}
          {{#hasRememberedDevices}}<p class="muted">These browsers sign you in again by themselves, without your password, until the date shown. Forget one you no longer use or do not recognise: it will ask for the password next time. Signing out everywhere, or changing your password, forgets them all.</p>
          <table class="sessions">
            <thead><tr><th>Device</th><th>Last signed in by it</th><th>Remembered until</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
            {{#rememberedDevices}}
            <tr id="device-{{id}}">
              <td class="ua" data-label="Device" title="{{labelFull}}">{{label}} {{#current}}<span class="tag">this device</span>{{/current}}</td>
              <td data-label="Last signed in by it">{{lastUsed}}</td>
              <td data-label="Remembered until">{{expires}}</td>
              <td class="row-actions"><form class="inline" method="post" action="/account/devices/forget"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="device" value="{{id}}"><button class="danger" type="submit" aria-label="Forget {{label}}">Forget</button></form></td>
            </tr>
            {{/rememberedDevices}}
            </tbody>
          </table>{{/hasRememberedDevices}}
        </div>
        <div class="card" id="applications">
          <h2>Applications you allowed</h2>
          {{^hasApplications}}<p class="muted">No application signs you in with Cloakroom.</p>{{/hasApplications}}
          {{#hasApplications}}<p class="muted">Removing an application's access withdraws your consent: it can no longer refresh its tokens or read your profile, and it has to ask again.</p>{{/hasApplications}}
          <ul class="applications">
          {{#applications}}
            <li id="application-{{clientID}}"><strong>{{name}}</strong> <span class="muted">({{clientID}})</span>: {{scopes}}. Allowed {{granted}}.
              <form class="inline" method="post" action="/account/applications/revoke"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="client_id" value="{{clientID}}"><button class="danger" type="submit" aria-label="Remove the access of {{name}}">Remove access</button></form></li>
          {{/applications}}
          </ul>
        </div>
        {{#hasProviders}}<div class="card" id="providers">
          <h2>Sign in with another provider</h2>
          <ul class="applications">
          {{#providers}}
            <li><strong>{{name}}</strong>: {{#linked}}linked since {{linked}}.
              <form class="inline" method="post" action="/account/providers/unlink"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="provider" value="{{name}}"><button class="secondary" type="submit">Unlink</button></form>{{/linked}}{{^linked}}not linked. <a class="button secondary" href="/login/with/{{name}}?link=1">Link your {{name}} account</a>{{/linked}}</li>
          {{/providers}}
          </ul>
        </div>{{/hasProviders}}
        <div class="card" id="preferences">
          <h2>Preferences</h2>
          <p class="muted">Kept in a signed cookie on this device: the page's script reads it, the server checks it has not been changed.</p>
          <form method="post" action="/account/preferences">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <fieldset><legend>Theme</legend>
            {{#themes}}<label class="choice"><input type="radio" name="theme" value="{{value}}"{{#selected}} checked{{/selected}}> {{label}}</label>{{/themes}}
            </fieldset>
            <div class="actions"><button class="secondary" type="submit">Save preferences</button></div>
          </form>
        </div>
        <div class="card" id="change-password">
          <h2>Change password</h2>
          {{#passwordError}}<div class="error" role="alert">Your password was not changed. {{passwordError}}</div>{{/passwordError}}
          <p class="muted">Signs out your other sessions and every app signed in with a token.</p>
          <form method="post" action="/account/password">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <input type="text" name="username" autocomplete="username" value="{{username}}" hidden>
            <label for="current_password">Current password</label>
            <input id="current_password" name="current_password" type="password" autocomplete="current-password" required>
            <label for="new_password">New password</label>
            <input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="{{minPassword}}" required>
            <div class="actions"><button type="submit">Change password</button></div>
          </form>
        </div>
        {{/page}}
        {{> foot}}
        """

    /// Every page's error, and the errors `ErrorMiddleware` shows a browser (404, 403, 405, 413 …).
    static let error = """
        {{> head}}
        {{#page}}
        <div class="card narrow">
          <h1>{{heading}}</h1>
          <div class="error" role="alert">{{message}}</div>
          <div class="actions">{{#link}}<a class="button" href="{{href}}">{{text}}</a>{{/link}}{{^link}}<a class="button" href="/">Home</a>{{/link}}</div>
        </div>
        {{/page}}
        {{> foot}}
        """

    /// Served at /assets/cloakroom.js. A page restored from the back-forward cache is reloaded, so
    /// after sign-out the back button asks the server again (and gets the sign-in page) instead of
    /// showing a private page from memory; `Cache-Control: no-store` alone does not stop every browser.
    static let script = """
        window.addEventListener('pageshow', function (event) {
          if (event.persisted) { window.location.reload(); }
        });
        // The theme from the signed preference cookie (not HttpOnly, so this script reads it):
        // its fourth dot-separated part is base64url of an 8-byte expiry and a JSON object.
        (function () {
          var match = document.cookie.match(/(?:^|; )(?:__Host-)?[A-Za-z0-9_.-]*-prefs=([^;]+)/);
          if (!match) { return; }
          try {
            var part = match[1].split('.')[3].replace(/-/g, '+').replace(/_/g, '/');
            var text = atob(part + '==='.slice((part.length + 3) % 4)).slice(8);
            var theme = JSON.parse(text).theme;
            if (theme === 'light' || theme === 'dark') { document.documentElement.setAttribute('data-theme', theme); }
          } catch (e) { }
        })();
        """

    /// Served at /assets/cloakroom.css, so the Content-Security-Policy needs no `'unsafe-inline'`
    /// for styles. Under 640 px the sessions table becomes one block per session.
    static let stylesheet = """
        :root { --ink:#1d2433; --muted:#5b6577; --line:#d9dee7; --accent:#2f5bd3; --bad:#b42318; --good:#067647; --surface:#fff; --page:#f6f7fb; }
        :root[data-theme=dark] { --ink:#e6e9f0; --muted:#a3abbb; --line:#363c4a; --accent:#86a8ff; --surface:#1c2130; --page:#12151d; }
        @media (prefers-color-scheme: dark) { :root:not([data-theme=light]) { --ink:#e6e9f0; --muted:#a3abbb; --line:#363c4a; --accent:#86a8ff; --surface:#1c2130; --page:#12151d; } }
        * { box-sizing: border-box; }
        body { margin:0; font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--ink); background:var(--page); }
        header { background:var(--surface); border-bottom:1px solid var(--line); }
        header .bar { max-width:880px; margin:0 auto; padding:12px 20px; display:flex; align-items:center; gap:16px; flex-wrap:wrap; }
        header .brand { font-weight:700; color:var(--ink); text-decoration:none; font-size:18px; }
        header nav { margin-left:auto; display:flex; gap:14px; align-items:center; flex-wrap:wrap; }
        header nav a { color:var(--accent); text-decoration:none; }
        main { max-width:880px; margin:28px auto; padding:0 20px; }
        .card { background:var(--surface); border:1px solid var(--line); border-radius:10px; padding:24px; margin-bottom:20px; }
        .narrow { max-width:420px; margin-left:auto; margin-right:auto; }
        h1 { font-size:24px; margin:0 0 12px; }
        h2 { font-size:18px; margin:0 0 12px; }
        label { display:block; font-weight:600; margin:14px 0 6px; }
        input[type=text], input[type=password] { width:100%; padding:10px 12px; border:1px solid var(--line); border-radius:8px; font-size:16px; }
        button, .button { display:inline-block; padding:9px 16px; border-radius:8px; border:1px solid var(--accent); background:var(--accent); color:#fff; font-size:15px; cursor:pointer; text-decoration:none; }
        button.secondary, .button.secondary { background:var(--surface); color:var(--accent); }
        button.danger { background:var(--surface); color:var(--bad); border-color:var(--bad); }
        form.inline { display:inline; margin:0; }
        fieldset { border:0; padding:0; margin:0; }
        label.choice { display:inline-block; font-weight:400; margin:6px 18px 0 0; }
        .actions { margin-top:18px; display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
        .error { background:#fef3f2; border:1px solid #fecdca; color:var(--bad); padding:10px 12px; border-radius:8px; margin-bottom:12px; }
        .notice { background:#ecfdf3; border:1px solid #abefc6; color:var(--good); padding:10px 12px; border-radius:8px; margin-bottom:12px; }
        .muted { color:var(--muted); font-size:14px; }
        .visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
        table { width:100%; border-collapse:collapse; font-size:14px; }
        th, td { text-align:left; padding:10px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
        th { color:var(--muted); font-weight:600; }
        .tag { display:inline-block; background:#eef4ff; color:var(--accent); border-radius:999px; padding:1px 8px; font-size:12px; font-weight:600; }
        .ua { max-width:300px; overflow-wrap:anywhere; }
        @media (max-width: 640px) {
          main { padding:0 12px; margin:16px auto; }
          .card { padding:16px; }
          table.sessions thead { display:none; }
          table.sessions, table.sessions tbody, table.sessions tr, table.sessions td { display:block; width:100%; }
          table.sessions tr { border-bottom:1px solid var(--line); padding:10px 0; }
          table.sessions td { border:0; padding:2px 0; }
          table.sessions td[data-label]::before { content:attr(data-label) ": "; color:var(--muted); font-weight:600; }
          table.sessions td.row-actions { padding-top:8px; }
          .ua { max-width:none; }
        }
        """
}
