import CloakroomCore

// The views of the signed-in API write their JSON directly: members in sorted key order, nil
// ones left out, exactly as JSONEncoder with .sortedKeys and .iso8601 (APIViewJSONTests compare).

extension APIRoutes.UserView: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("id")
        writer.string(id)
        writer.key("username")
        writer.string(username)
        writer.endObject()
    }
}

extension APIRoutes.SessionView: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("absoluteExpiresAt")
        writer.date(absoluteExpiresAt)
        if let authenticatedAt {
            writer.key("authenticatedAt")
            writer.date(authenticatedAt)
        }
        writer.key("createdAt")
        writer.date(createdAt)
        writer.key("current")
        writer.bool(current)
        writer.key("expiresAt")
        writer.date(expiresAt)
        writer.key("id")
        writer.string(id)
        writer.key("idleExpiresAt")
        writer.date(idleExpiresAt)
        if let ipAddress {
            writer.key("ipAddress")
            writer.string(ipAddress)
        }
        writer.key("lastSeenAt")
        writer.date(lastSeenAt)
        if let userAgent {
            writer.key("userAgent")
            writer.string(userAgent)
        }
        writer.endObject()
    }
}

extension APIRoutes.TokenView: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("clientID")
        writer.string(clientID)
        writer.key("expiresAt")
        writer.date(expiresAt)
        writer.key("issuedAt")
        writer.date(issuedAt)
        writer.key("scope")
        writer.string(scope)
        if let sessionID {
            writer.key("sessionID")
            writer.string(sessionID)
        }
        writer.endObject()
    }
}

extension APIRoutes.MeView: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if let session {
            writer.key("session")
            session.write(to: &writer)
        }
        if let token {
            writer.key("token")
            token.write(to: &writer)
        }
        writer.key("user")
        user.write(to: &writer)
        writer.endObject()
    }
}
