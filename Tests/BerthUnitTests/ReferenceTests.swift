import BerthModels
import BerthImage
import BerthSystem
import Testing

@Suite struct ReferenceTests {
    @Test(arguments: [
        ("busybox", "busybox:latest", "docker.io/library/busybox"),
        ("busybox:1.36", "busybox:1.36", "docker.io/library/busybox"),
        ("library/busybox", "busybox:latest", "docker.io/library/busybox"),
        ("docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox"),
        ("index.docker.io/library/busybox", "busybox:latest", "docker.io/library/busybox"),
        ("acc/bb:v1", "acc/bb:v1", "docker.io/acc/bb"),
        ("127.0.0.1:5055/acc/bb:1", "127.0.0.1:5055/acc/bb:1", "127.0.0.1:5055/acc/bb"),
        ("localhost/x", "localhost/x:latest", "localhost/x"),
        ("quay.io/a/b/c:t-1.0", "quay.io/a/b/c:t-1.0", "quay.io/a/b/c"),
        ("a__b/c-d.e:x", "a__b/c-d.e:x", "docker.io/a__b/c-d.e"),
    ])
    func normalises(_ input: String, _ familiar: String, _ full: String) throws {
        let r = try ImageReference(parse: input)
        #expect(r.familiar == familiar)
        #expect(r.fullName == full)
    }

    @Test func digestReferences() throws {
        let d = "sha256:" + String(repeating: "ab", count: 32)
        let r = try ImageReference(parse: "busybox@" + d)
        #expect(r.digest?.description == d)
        #expect(r.tag == nil)
        #expect(r.familiar == "busybox@" + d)
    }

    @Test(arguments: ["", "UPPER", "a//b", "acc bad", "x:!tag", "-lead", "trail-", "a/b@sha256:123", "x:" + String(repeating: "t", count: 129)])
    func rejects(_ input: String) {
        #expect(throws: BerthError.self) { try ImageReference(parse: input) }
    }

    @Test func uppercaseMessage() {
        do { _ = try ImageReference(parse: "Acc/x"); Issue.record("accepted") } catch let e as BerthError {
            #expect(e.message.contains("must be lowercase"))
        } catch { Issue.record("\(error)") }
    }

    @Test func chainIDs() throws {
        let a = try Digest(parsing: "sha256:" + String(repeating: "1", count: 64))
        let b = try Digest(parsing: "sha256:" + String(repeating: "2", count: 64))
        let c = Digest.chainIDs([a, b])
        #expect(c[0] == a)
        #expect(c[1] == Digest.sha256(Array((a.description + " " + b.description).utf8)))
    }
}
