import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// save/load round trips, import, history, prune, system df — through the docker CLI.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct ImageTests {
    @Test func saveLoadImportHistoryPrune() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let id = try await d.docker("image", "inspect", "-f", "{{.Id}}", "busybox").stdoutText
            #expect(try await d.docker("tag", "busybox", "it/one:1").status == 0)
            #expect(try await d.docker("tag", "busybox", "it/two:2").status == 0)
            let archive = d.root + "/two.tar"
            #expect(try await d.docker("save", "-o", archive, "it/one:1", "it/two:2").status == 0)
            let members = try await Subprocess.run(["tar", "-tf", archive]).stdoutText
            #expect(members.contains("manifest.json") && members.contains("index.json") && members.contains("oci-layout"))
            #expect(try await d.docker("rmi", "it/one:1", "it/two:2").status == 0)
            let load = try await d.docker("load", "-i", archive).stdoutText
            #expect(load.contains("Loaded image: it/one:1") && load.contains("Loaded image: it/two:2"))
            #expect(try await d.docker("image", "inspect", "-f", "{{.Id}}", "it/one:1").stdoutText == id)

            let rootfs = d.root + "/rootfs"
            try FS.mkdirAll(rootfs + "/bin")
            try FS.writeAtomically(rootfs + "/bin/busybox", try FS.read("/bin/busybox"), mode: 0o755)
            symlink("busybox", rootfs + "/bin/sh")
            symlink("busybox", rootfs + "/bin/echo")
            #expect(try await Subprocess.run(["tar", "-C", rootfs, "-cf", d.root + "/rootfs.tar", "."]).status == 0)
            #expect(try await d.docker("import", "-c", "CMD [\"sh\"]", d.root + "/rootfs.tar", "it/imported:1").status == 0)
            #expect(try await d.docker("run", "--rm", "it/imported:1", "echo", "imported").stdoutText == "imported\n")
            #expect(try await d.docker("history", "it/imported:1").stdoutText.contains("Imported from -"))
            #expect(try await d.docker("system", "df").stdoutText.contains("Images"))

            #expect(try await d.docker("run", "--name", "it-tmp", "busybox", "true").status == 0)
            let dangling = try await d.docker("commit", "it-tmp").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await d.docker("rm", "it-tmp").status == 0)
            #expect(try await d.docker("images", "-q", "--filter", "dangling=true").stdoutText.contains(String(dangling.dropFirst(7).prefix(12))))
            #expect(try await d.docker("image", "prune", "-f").status == 0)
            let gone = try await d.docker("image", "inspect", dangling)
            #expect(gone.status != 0 && gone.stderrText.contains("No such image"))
        }
    }
}
