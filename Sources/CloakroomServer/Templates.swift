import Mustache

/// The web pages' templates, compiled into the binary so `cloakroom` runs from any directory.
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
    ]

    static let head = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{title}} · Cloakroom</title>
    <script src="/assets/cloakroom.js" defer></script>
    <style>
    :root { --ink:#1d2433; --muted:#5b6577; --line:#d9dee7; --accent:#2f5bd3; --bad:#b42318; --good:#067647; }
    * { box-sizing: border-box; }
    body { margin:0; font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--ink); background:#f6f7fb; }
    header { background:#fff; border-bottom:1px solid var(--line); }
    header .bar { max-width:880px; margin:0 auto; padding:12px 20px; display:flex; align-items:center; gap:16px; }
    header .brand { font-weight:700; color:var(--ink); text-decoration:none; font-size:18px; }
    header nav { margin-left:auto; display:flex; gap:14px; align-items:center; }
    header nav a { color:var(--accent); text-decoration:none; }
    main { max-width:880px; margin:28px auto; padding:0 20px; }
    .card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:24px; margin-bottom:20px; }
    .narrow { max-width:420px; margin-left:auto; margin-right:auto; }
    h1 { font-size:24px; margin:0 0 12px; }
    h2 { font-size:18px; margin:0 0 12px; }
    label { display:block; font-weight:600; margin:14px 0 6px; }
    input[type=text], input[type=password] { width:100%; padding:10px 12px; border:1px solid var(--line); border-radius:8px; font-size:16px; }
    button, .button { display:inline-block; padding:9px 16px; border-radius:8px; border:1px solid var(--accent); background:var(--accent); color:#fff; font-size:15px; cursor:pointer; text-decoration:none; }
    button.secondary { background:#fff; color:var(--accent); }
    button.danger { background:#fff; color:var(--bad); border-color:var(--bad); }
    form.inline { display:inline; margin:0; }
    .actions { margin-top:18px; display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
    .error { background:#fef3f2; border:1px solid #fecdca; color:var(--bad); padding:10px 12px; border-radius:8px; margin-bottom:12px; }
    .notice { background:#ecfdf3; border:1px solid #abefc6; color:var(--good); padding:10px 12px; border-radius:8px; margin-bottom:12px; }
    .muted { color:var(--muted); font-size:14px; }
    table { width:100%; border-collapse:collapse; font-size:14px; }
    th, td { text-align:left; padding:10px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
    th { color:var(--muted); font-weight:600; }
    .tag { display:inline-block; background:#eef4ff; color:var(--accent); border-radius:999px; padding:1px 8px; font-size:12px; font-weight:600; }
    .ua { max-width:300px; overflow-wrap:anywhere; }
    </style>
    </head>
    <body>
    <header><div class="bar">
      <a class="brand" href="/">Cloakroom</a>
      <nav>
        {{#user}}<span class="muted">{{username}}</span><a href="/account">Account</a>
        <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{csrf}}"><button class="secondary" type="submit">Sign out</button></form>{{/user}}
        {{^user}}<a href="/login">Sign in</a><a href="/register">Register</a>{{/user}}
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
    <div class="card">
      {{#user}}
      <h1>Welcome back, {{username}}</h1>
      <p>You are signed in. Your session ends after {{idleMinutes}} minutes without activity, and at the latest {{absoluteHours}} hours after you signed in.</p>
      <div class="actions"><a class="button" href="/account">Your account and sessions</a></div>
      {{/user}}
      {{^user}}
      <h1>Cloakroom</h1>
      <p>Hand in your coat, keep the ticket: the server keeps your session, your browser keeps only an opaque ID in a cookie it will not show to scripts.</p>
      <p class="muted">You are not signed in.</p>
      <div class="actions"><a class="button" href="/login">Sign in</a><a href="/register">Create an account</a></div>
      {{/user}}
    </div>
    {{> foot}}
    """

    static let login = """
    {{> head}}
    <div class="card narrow">
      <h1>Sign in</h1>
      {{#error}}<div class="error" role="alert">{{error}}</div>{{/error}}
      <form method="post" action="/login">
        <input type="hidden" name="csrf_token" value="{{csrf}}">
        <label for="username">Username</label>
        <input id="username" name="username" type="text" autocomplete="username" value="{{username}}" required autofocus>
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <div class="actions"><button type="submit">Sign in</button><a href="/register">Create an account</a></div>
      </form>
    </div>
    {{> foot}}
    """

    static let register = """
    {{> head}}
    <div class="card narrow">
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
    </div>
    {{> foot}}
    """

    static let account = """
    {{> head}}
    <div class="card">
      <h1>Your account</h1>
      {{#notice}}<div class="notice" role="status">{{notice}}</div>{{/notice}}
      {{#passwordError}}<div class="error" role="alert">Your password was not changed: {{passwordError}}</div>{{/passwordError}}
      <p>Signed in as <strong>{{username}}</strong>. This session expires at {{currentExpiry}} unless you keep using it (idle limit {{idleMinutes}} min, hard limit {{absoluteHours}} h).</p>
    </div>
    <div class="card">
      <h2>Your sessions ({{sessionCount}})</h2>
      <table>
        <thead><tr><th>Device</th><th>Address</th><th>Signed in</th><th>Last active</th><th>Expires</th><th></th></tr></thead>
        <tbody>
        {{#sessions}}
        <tr id="session-{{handle}}">
          <td class="ua">{{userAgent}} {{#current}}<span class="tag">this device</span>{{/current}}</td>
          <td>{{ipAddress}}</td>
          <td>{{created}}</td>
          <td>{{lastSeen}}</td>
          <td>{{expires}}</td>
          <td>{{^current}}<form class="inline" method="post" action="/account/sessions/revoke"><input type="hidden" name="csrf_token" value="{{csrf}}"><input type="hidden" name="handle" value="{{handle}}"><button class="danger" type="submit">Revoke</button></form>{{/current}}</td>
        </tr>
        {{/sessions}}
        </tbody>
      </table>
      <div class="actions">
        <form class="inline" method="post" action="/account/sessions/revoke-others"><input type="hidden" name="csrf_token" value="{{csrf}}"><button class="danger" type="submit">Sign out everywhere else</button></form>
        <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{csrf}}"><button class="secondary" type="submit">Sign out</button></form>
      </div>
    </div>
    <div class="card">
      <h2>Change password</h2>
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
    {{> foot}}
    """

    /// Served at /assets/cloakroom.js. A page restored from the back-forward cache is reloaded, so
    /// after sign-out the back button asks the server again (and gets the sign-in page) instead of
    /// showing a private page from memory; `Cache-Control: no-store` alone does not stop every browser.
    static let script = """
    window.addEventListener('pageshow', function (event) {
      if (event.persisted) { window.location.reload(); }
    });
    """

    static let error = """
    {{> head}}
    <div class="card narrow">
      <h1>{{heading}}</h1>
      <div class="error" role="alert">{{message}}</div>
      <div class="actions"><a class="button" href="/">Home</a></div>
    </div>
    {{> foot}}
    """
}
