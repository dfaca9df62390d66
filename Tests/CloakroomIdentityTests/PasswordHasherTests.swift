import CloakroomCore
import CloakroomIdentity
import Foundation
import Testing

@Suite("Password hashing with scrypt")
struct PasswordHasherTests {
    let fast = PasswordHasher(parameters: ScryptParameters(logN: 10, r: 8, p: 1))

    @Test func hashVerifiesOnlyTheRightPassword() async throws {
        let hash = try await fast.hash("correct horse battery staple")
        #expect(hash.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(try await fast.verify("correct horse battery staple", against: hash))
        #expect(try await !fast.verify("correct horse battery stapler", against: hash))
        #expect(try await !fast.verify("", against: hash))
    }

    @Test func saltsDiffer() async throws {
        let a = try await fast.hash("same password here")
        let b = try await fast.hash("same password here")
        #expect(a != b)
    }

    @Test func defaultParametersAreOWASPEquivalent() async throws {
        let hasher = PasswordHasher()
        #expect(hasher.parameters == ScryptParameters(logN: 15, r: 8, p: 3))
        #expect(hasher.parameters.memoryBytes == 32 * 1024 * 1024)
        let hash = try await hasher.hash("a password of decent length")
        #expect(PasswordHasher.parameters(of: hash) == .owasp)
        #expect(try await hasher.verify("a password of decent length", against: hash))
    }

    @Test func scryptMatchesRFC7914TestVector() async throws {
        // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64.
        let expected =
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        let salt = Data("NaCl".utf8).base64EncodedString()
        let hashBytes = Data(try #require(Hex.decode(expected)))
        let encoded = "$scrypt$ln=10,r=8,p=16$\(salt)$\(hashBytes.base64EncodedString())"
        #expect(try await fast.verify("password", against: encoded))
        #expect(try await !fast.verify("Password", against: encoded))
    }

    @Test func weakerHashesNeedRehash() async throws {
        let old = try await fast.hash("some password 123")
        let strong = PasswordHasher(parameters: ScryptParameters(logN: 12, r: 8, p: 1))
        #expect(strong.needsRehash(old))
        #expect(!fast.needsRehash(old))
        #expect(strong.needsRehash("not a hash"))
        #expect(try await strong.verify("some password 123", against: old), "old hashes still verify")
    }

    @Test(arguments: [
        "", "plain", "$scrypt$ln=10,r=8$c2FsdA==$aGFzaA==", "$scrypt$ln=99,r=8,p=1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==", "$bcrypt$x$y$z",
        "$scrypt$ln=10,r=8,p=1$!!!$???",
    ])
    func malformedHashesAreErrorsNotCrashes(_ encoded: String) async throws {
        await #expect(throws: IdentityError.self) { _ = try await fast.verify("x", against: encoded) }
    }

    @Test func aFullQueueAnswersBusy() async throws {
        // One hash at a time, one waiter: a burst of 8 slow hashes must see `busy` for some.
        let hasher = PasswordHasher(parameters: ScryptParameters(logN: 14, r: 8, p: 1), maxConcurrent: 1, maxQueued: 1)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        _ = try await hasher.hash("burst password")
                        return true
                    } catch let error as IdentityError {
                        return error.code != .busy
                    } catch {
                        return true
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.contains(false), "some callers were refused with busy")
        #expect(results.contains(true), "some callers were served")
    }
}
