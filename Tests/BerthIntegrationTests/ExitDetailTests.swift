import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// How a run ended, as dockerd reports it: OOMKilled and the oom event, 137 after SIGKILL,
/// State.Error and 127 when the command cannot start.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct ExitDetailTests {
    @Test func oomKillAndStartFailure() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            // 64 MB held in a shell variable under an 8 MiB limit.
            let oom = try await d.docker("run", "--name", "ed-oom", "-m", "8m", "busybox", "sh", "-c",
                                         "x=$(head -c 64000000 /dev/zero | tr '\\000' a); echo ${#x}")
            #expect(oom.status == 137, "\(oom.stdoutText)\(oom.stderrText)")
            let state = try await d.docker("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "ed-oom").stdoutText
            #expect(state == "true 137\n", "\(state)")
            let events = try await d.docker("events", "--since", "0", "--until", String(Timestamp.nowNanos() / 1_000_000_000 + 1),
                                            "--filter", "container=ed-oom", "--format", "{{.Action}}").stdoutText
            #expect(events.contains("oom\ndie"), "\(events)")
            // A command that does not exist: 127, and the reason in State.Error.
            let missing = try await d.docker("run", "--name", "ed-missing", "busybox", "no-such-command")
            #expect(missing.status == 127, "\(missing.stderrText)")
            let err = try await d.docker("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}} {{.State.Error}}", "ed-missing").stdoutText
            #expect(err.hasPrefix("127 ") && err.contains("executable file not found"), "\(err)")
            // SIGKILL: 137 as soon as kill answers.
            #expect(try await d.docker("run", "-d", "--name", "ed-kill", "busybox", "sleep", "300").status == 0)
            #expect(try await d.docker("kill", "ed-kill").status == 0)
            #expect(try await d.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ed-kill").stdoutText == "exited 137\n")
        }
    }
}
