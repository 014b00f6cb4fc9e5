import BerthBuild
import Testing

/// The Dockerfile parser and word expansion, checked against what the reference dockerd's
/// classic builder made of the same text.
@Suite struct DockerfileTests {
    @Test func parsesDirectivesContinuationsAndForms() throws {
        let text = """
        # escape=`
        # syntax=docker/dockerfile:1
        FROM --platform=linux/amd64 busybox AS base
        # a comment
        RUN echo one `
        # a comment inside
            && echo two

        CMD ["sh", "-c", "echo hi"]
        copy --chown=1:2 --from=base a b
        ENTRYPOINT [ "not json
        HEALTHCHECK NONE
        """
        let d = try Dockerfile(parsing: text)
        #expect(d.escape == "`" && d.syntax == "docker/dockerfile:1" && d.warnings.count == 1)
        #expect(d.instructions.map(\.keyword) == ["from", "run", "cmd", "copy", "entrypoint", "healthcheck"])
        let from = d.instructions[0]
        #expect(from.flag("platform") == "linux/amd64" && from.args == ["busybox AS base"] && from.line == 3)
        #expect(d.instructions[1].args == ["echo one     && echo two"] && d.instructions[1].line == 5)
        #expect(d.instructions[2].json && d.instructions[2].args == ["sh", "-c", "echo hi"])
        #expect(d.instructions[3].flag("chown") == "1:2" && d.instructions[3].flag("from") == "base" && d.instructions[3].args == ["a b"])
        #expect(!d.instructions[4].json && d.instructions[4].args == [#"[ "not json"#])
    }

    /// The texts of the reference dockerd's parser (its instruction checks name the line; its
    /// syntax checks name the file), for what it refuses before anything runs.
    @Test func refusesWhatDockerdRefuses() {
        for (text, message) in [("FROM busybox\nFOO bar", "dockerfile parse error on line 2: unknown instruction: FOO"),
                                ("FROM busybox\nENV", "dockerfile parse error on line 2: ENV requires at least one argument"),
                                ("FROM busybox\nSTOPSIGNAL", "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument"),
                                ("FROM busybox\nWORKDIR a b", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
                                ("FROM busybox\nONBUILD FROM x", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
                                ("FROM busybox\nADD", "dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
                                ("FROM busybox\nCOPY [\"a\"]", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
                                ("FROM busybox\nSHELL /bin/bash", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
                                ("FROM busybox\nCOPY --badflag=1 a /b", "dockerfile parse error on line 2: Unknown flag: badflag"),
                                ("FROM busybox\nHEALTHCHECK FOO true", #"dockerfile parse error on line 2: Unknown type "FOO" in HEALTHCHECK (try CMD)"#),
                                ("FROM busybox\nHEALTHCHECK --interval=xx CMD true", #"dockerfile parse error on line 2: time: invalid duration "xx""#),
                                ("FROM busybox\nHEALTHCHECK NONE x", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
                                ("FROM busybox\nLABEL a", "failed to parse Dockerfile: LABEL must have two arguments"),
                                ("FROM busybox\nENV a=1 b", #"failed to parse Dockerfile: Syntax error - can't find = in "b". Must be of the form: name=value"#),
                                ("# just a comment\n", "failed to parse Dockerfile: file with no instructions"),
                                ("# escape=x\nFROM a", "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\")] {
            #expect(throws: Dockerfile.ParseError.self) { try Dockerfile(parsing: text) }
            do { _ = try Dockerfile(parsing: text) } catch { #expect("\(error)" == message) }
        }
        // What dockerd takes: RUN and CMD without arguments, quoted pairs with blanks.
        #expect(throws: Never.self) { try Dockerfile(parsing: "FROM busybox\nRUN\nCMD\nENV a=\"x y\" b='c d'\nLABEL \"k\"=v") }
    }

    /// LABEL values the reference dockerd (20.10, classic builder) produced for the same words.
    @Test func expandsAsDockerd() throws {
        let sh = ShellWords()
        let env = ["A": "b", "E": "", "S": "x y"]
        let text = #"l1="${A}x" l2='$A' l3=\$A l4=${UNSET:-def} l5=${A:+alt} l6=${UNSET:+alt} l7="a\"b" l8="a\nb" l9=${E:-d} l11=$A$A l12=${A}_${A} l13="$S" l14=${S}"#
        let got = Dictionary(uniqueKeysWithValues: try sh.pairs(text, env: env, keyword: "label").map { ($0.key, $0.value) })
        #expect(got == ["l1": "bx", "l2": "$A", "l3": "$A", "l4": "def", "l5": "alt", "l6": "", "l7": "a\"b", "l8": "a\\nb",
                        "l9": "d", "l11": "bb", "l12": "b_b", "l13": "x y", "l14": "x y"])
        let legacy = try sh.pairs("LEG legacy value  here", env: env, keyword: "env")
        #expect(legacy.count == 1 && legacy[0].key == "LEG" && legacy[0].value == "legacy value  here")
        #expect(try sh.words(#"a "b c" 'd e' "" f\ g"#, env: env) == ["a", "b c", "d e", "", "f g"])
        #expect(try sh.expand("${E-d}${UNSET-u}${A+set}", env: env) == "uset")
        #expect(throws: ShellWords.ExpansionError(message: "UNSET: needed")) { try sh.expand("${UNSET:?needed}", env: env) }
        #expect(throws: ShellWords.ExpansionError.self) { try sh.expand("${A", env: env) }
        #expect(throws: ShellWords.ExpansionError.self) { try sh.expand("\"open", env: env) }
        #expect(try ShellWords(escape: "`").expand("a`$A\\b", env: env) == "a$A\\b")
    }

    /// A substitution cannot blow a word up without bound.
    @Test func expansionIsBounded() {
        var env = ["X": String(repeating: "x", count: 1 << 16)]
        env["Y"] = "$X"
        let many = String(repeating: "$X", count: 40)
        #expect(throws: ShellWords.ExpansionError.self) { try ShellWords().expand(many, env: env) }
    }
}

/// `.dockerignore` matching as dockerd's pattern matcher does it.
@Suite struct DockerIgnoreTests {
    @Test func patternsExceptionsAndParents() throws {
        let d = try DockerIgnore("""
            # comment
            ignored
            *.log
            !keep.log
            /abs/path
            docs/**/*.md
            !docs/keep/**
            temp?
            [ab]x
            **/node_modules
            """)
        for (path, out) in [("ignored", true), ("ignored/s", true), ("ignored/deep/x", true), ("notignored", false),
                            ("a.log", true), ("keep.log", false), ("sub/a.log", false), ("abs/path/f", true),
                            ("docs/a.md", true), ("docs/x/y/z.md", true), ("docs/keep/k.md", false), ("docs/a.txt", false),
                            ("temp1", true), ("temp12", false), ("ax", true), ("cx", false),
                            ("node_modules/x", true), ("a/b/node_modules/c", true), ("Dockerfile", false)] {
            #expect(d.excludes(path) == out, "\(path)")
        }
        #expect(try DockerIgnore("!x\n\n").excludes("x") == false)
        #expect(throws: DockerIgnore.PatternError.self) { try DockerIgnore("[a") }
        #expect(try DockerIgnore("").isEmpty)
    }
}

/// Stages, targets and the stages a build needs.
@Suite struct BuildPlanTests {
    static let text = """
        ARG BASE=busybox
        FROM ${BASE} AS base
        RUN true
        FROM scratch AS unused
        COPY a b
        FROM base AS mid
        FROM scratch AS final
        COPY --from=mid /x /x
        COPY --from=0 /y /y
        COPY --from=alpine:3 /z /z
        """

    @Test func stagesAndWhatATargetNeeds() throws {
        let plan = try BuildPlan(try Dockerfile(parsing: Self.text))
        #expect(plan.stages.map(\.name) == ["base", "unused", "mid", "final"])
        #expect(plan.stages[0].base == "${BASE}" && plan.stages[0].instructions.map(\.keyword) == ["run"])
        #expect(try plan.globalArgValues(buildArgs: [:]) == ["BASE": "busybox"])
        #expect(try plan.globalArgValues(buildArgs: ["BASE": "alpine"]) == ["BASE": "alpine"])
        #expect(try plan.needed(target: nil) == [0, 2, 3])
        #expect(try plan.needed(target: "BASE") == [0])
        #expect(try plan.needed(target: "unused") == [1])
        #expect(plan.stage("mid", before: 3) == 2 && plan.stage("final", before: 3) == nil && plan.stage("alpine:3", before: 3) == nil)
        do { _ = try plan.needed(target: "nope"); Issue.record("no error") } catch {
            #expect("\(error)".contains("failed to reach build target nope in Dockerfile"))
        }
    }

    @Test func refusesBadStages() {
        for (text, message) in [("RUN true\nFROM a", "no build stage in current context"),
                                ("FROM a AS 1x", "invalid name for build stage"),
                                ("FROM a b", "FROM requires either one or three arguments"),
                                ("ARG X", "no build stage in current context")] {
            do { _ = try BuildPlan(try Dockerfile(parsing: text)); Issue.record("\(text) was taken") } catch {
                #expect("\(error)".contains(message), "\(text): \(error)")
            }
        }
    }
}

/// Patterns built to make a backtracking matcher explode are matched in bounded time.
@Suite struct HostileDockerIgnoreTests {
    @Test func pathologicalPatterns() throws {
        let stars = String(repeating: "*a", count: 200) + "b"
        let dirs = String(repeating: "**/a/", count: 6) + "x"
        let d = try DockerIgnore(stars + "\n" + dirs + "\n" + String(repeating: "**/", count: 50) + "y")
        let longName = String(repeating: "a", count: 250)
        let deep = Array(repeating: "a", count: 1000).joined(separator: "/")
        #expect(!d.excludes(longName))
        #expect(!d.excludes(deep))
        #expect(d.excludes(deep + "/y"))
        #expect(throws: DockerIgnore.PatternError.self) { try DockerIgnore(String(repeating: "x", count: 2000)) }
    }
}
