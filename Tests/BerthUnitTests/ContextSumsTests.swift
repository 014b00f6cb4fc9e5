import BerthArchive
import BerthModels
@testable import BerthBuild
import BerthSystem
import Foundation
import Testing

/// The build context's checksums and the history texts made from them, against what the
/// reference dockerd wrote for the same archive (`COPY file:… in /x/`): `--cache-from` and the
/// step cache depend on these being the same byte for byte.
@Suite struct ContextSumsTests {
    /// a.txt (0644, "hello\n"), sub/ (0755), sub/b (0600, 1000:1000, "bee"), ln → a.txt.
    func context(maxRecorded: Int = 250_000) throws -> (String, ContextSums) {
        var w = TarWriter(MemoryWriter())
        try w.write(TarEntry(name: "Dockerfile", kind: .file, mode: 0o644, mtime: 1_700_000_000), data: Array("FROM busybox\nCOPY a.txt /x/\nCOPY sub /s/\nCOPY ln /l\nCOPY . /all/\nCOPY a.txt sub /m/\n".utf8))
        try w.write(TarEntry(name: "a.txt", kind: .file, mode: 0o644, mtime: 1_700_000_000), data: Array("hello\n".utf8))
        try w.write(TarEntry(name: "sub/", kind: .directory, mode: 0o755, mtime: 1_700_000_000))
        try w.write(TarEntry(name: "sub/b", kind: .file, mode: 0o600, uid: 1000, gid: 1000, mtime: 1_700_000_000), data: Array("bee".utf8))
        try w.write(TarEntry(name: "ln", kind: .symlink, mode: 0o777, mtime: 1_700_000_000, linkName: "a.txt"))
        try w.finish()
        let dir = NSTemporaryDirectory() + "ctxsums-" + UUID().uuidString
        try FS.mkdirAll(dir + "/ctx")
        let tar = dir + "/ctx.tar"
        try Data(w.sink.bytes).write(to: URL(fileURLWithPath: tar))
        let sums = ContextSums(lazy: false, maxRecorded: maxRecorded)
        try Builder.unpack(tar, into: dir + "/ctx", limit: 1 << 20, observer: sums.summer())
        return (dir, sums)
    }

    @Test func sumsAsDockerd() throws {
        let (dir, sums) = try context()
        defer { FS.removeAll(dir) }
        let root = dir + "/ctx"
        // The values the reference dockerd put in the history for this archive.
        #expect(sums.sourceHash(root: root, "a.txt") == "file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda")
        #expect(sums.sourceHash(root: root, "ln") == "file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda")
        #expect(sums.sourceHash(root: root, "sub") == "dir:a3148a3351aeb1bfc68f43c7c3e4d4bec43733c79edd00a8938dc8393e593777")
        #expect(sums.sourceHash(root: root, "") == "dir:5aaebebff20bd1cc4bda5d5d12102584580091c44196ccb87bed4d16c82c3b6c")
        let multi = ContextSums.hashList("multi", [sums.sourceHash(root: root, "a.txt"), sums.sourceHash(root: root, "sub")])
        #expect(multi == "multi:796d1444ba1511cf6cdd0c0c4afbfa0df554ddf4e8e2875464bc17dcc82e7165")
    }

    @Test func changedContentOrOwnerChangesTheSum() throws {
        let (dir, sums) = try context()
        defer { FS.removeAll(dir) }
        let root = dir + "/ctx"
        // Lazily summed files (a git checkout) follow the same rules from lstat.
        let lazy = ContextSums(lazy: true)
        let before = lazy.sourceHash(root: root, "sub")
        #expect(before.hasPrefix("dir:") && sums.sourceHash(root: root, "sub").hasPrefix("dir:"))
        try FS.write(root + "/sub/b", "bea")
        #expect(ContextSums(lazy: true).sourceHash(root: root, "sub") != before)
        let file = ContextSums(lazy: true).sourceHash(root: root, "a.txt")
        _ = chown(root + "/a.txt", 5, 5)
        #expect(ContextSums(lazy: true).sourceHash(root: root, "a.txt") != file || getuid() != 0)
        // A link pointing out of the context is followed inside it only.
        _ = symlink("/etc/passwd", root + "/out")
        #expect(!ContextSums(lazy: true).sourceHash(root: root, "out").isEmpty)
    }

    /// Past the number of headers kept, entries are summed from the files: every source still
    /// has a content-bound sum, and memory stays bounded.
    @Test func manyEntriesAreSummedFromTheFiles() throws {
        let (dir, sums) = try context(maxRecorded: 2)
        defer { FS.removeAll(dir) }
        let root = dir + "/ctx"
        #expect(sums.sourceHash(root: root, "a.txt") == "file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda")
        let b = sums.sourceHash(root: root, "sub/b")
        #expect(b.hasPrefix("file:") && b.count == 69 && b != "file:sub/b", "\(b)")
    }

    @Test func goTexts() {
        #expect(GoText.quoteList(["/bin/sh", "-c", "echo \"hi\"\n"]) == #"["/bin/sh" "-c" "echo \"hi\"\n"]"#)
        #expect(GoText.list(["/bin/sh", "-c"]) == "[/bin/sh -c]")
        #expect(GoText.duration(0) == "0s" && GoText.duration(5_000_000_000) == "5s" && GoText.duration(90_000_000_000) == "1m30s")
        #expect(GoText.duration(3_600_000_000_000) == "1h0m0s" && GoText.duration(1_500_000) == "1.5ms" && GoText.duration(999) == "999ns")
        #expect(GoText.quoteRune(0) == #"'\x00'"# && GoText.quoteRune(3) == #"'\x03'"# && GoText.quoteRune(65) == "'A'")
        let h = BerthModels.HealthcheckConfig(Test: ["CMD-SHELL", "true"], Interval: 5_000_000_000, Retries: 3)
        #expect(GoText.healthcheck(h) == #"&{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x03'}"#)
    }
}
