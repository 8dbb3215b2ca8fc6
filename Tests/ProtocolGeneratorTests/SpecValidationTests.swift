import Foundation
import ProtocolGenerator
import Testing

/// Every rule of the spec format rejects a spec that breaks it, with a reason.
@Suite("The spec is validated")
struct SpecValidationTests {
    /// The committed spec as a JSON tree, for editing.
    private func specTree() throws -> [String: Any] {
        let data = try Data(contentsOf: packageRoot.appending(path: Generator.specPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Applies `edit` to the committed spec and returns the loader's complaint.
    private func rejection(_ edit: (inout [String: Any]) throws -> Void) throws -> String {
        var tree = try specTree()
        try edit(&tree)
        let data = try JSONSerialization.data(withJSONObject: tree)
        do {
            _ = try ProtocolSpec(json: data)
        } catch {
            return error.description
        }
        Issue.record("the edited spec was accepted")
        return ""
    }

    /// Edits message `name` of protocol `protocolName`.
    private func editMessage(_ tree: inout [String: Any], _ protocolName: String, _ name: String,
                             _ edit: (inout [String: Any]) -> Void) throws {
        var protocols = try #require(tree["protocols"] as? [[String: Any]])
        let p = try #require(protocols.firstIndex { $0["name"] as? String == protocolName })
        var messages = try #require(protocols[p]["messages"] as? [[String: Any]])
        let m = try #require(messages.firstIndex { $0["name"] as? String == name })
        edit(&messages[m])
        protocols[p]["messages"] = messages
        tree["protocols"] = protocols
    }

    private func field(_ name: String, _ type: String, since: Int, extra: [String: Any] = [:]) -> [String: Any] {
        ["name": name, "type": type, "since": since, "doc": "test"].merging(extra) { $1 }
    }

    @Test func theCommittedSpecLoads() throws {
        let spec = try Generator.loadSpec(root: packageRoot)
        #expect(spec.messages.count == 74)
    }

    @Test func unknownKeysAreRejected() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "flush") { $0["sinse"] = 2 }
        }
        #expect(reason.contains("unknown key 'sinse'"))
    }

    @Test func duplicateOrdinals() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "flush") { $0["ordinal"] = 513 }
        }
        #expect(reason.contains("ordinal '513' appears twice"))
    }

    @Test func ordinalOutsideItsProtocolRange() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "flush") { $0["ordinal"] = 300 }
        }
        #expect(reason.contains("outside its protocol's range"))
    }

    @Test func fieldsAreOnlyAppended() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "create_context") { message in
                var fields = message["fields"] as! [[String: Any]]
                fields.append(field("late", "u32", since: 1))
                message["fields"] = fields
            }
        }
        #expect(reason.contains("new fields go last"))
    }

    @Test func aNewerFieldNeedsADefault() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "destroy_context") { message in
                message["version"] = 2
                message["fields"] = (message["fields"] as! [[String: Any]]) + [field("reason", "u32", since: 2)]
            }
        }
        #expect(reason.contains("needs a default"))
    }

    @Test func aNewerHandleMustBeOptional() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "destroy_context") { message in
                message["version"] = 2
                message["fields"] = (message["fields"] as! [[String: Any]]) + [field("fence", "handle<token>", since: 2)]
            }
        }
        #expect(reason.contains("must be optional"))
    }

    @Test func versionMustMatchTheNewestField() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "destroy_context") { $0["version"] = 3 }
        }
        #expect(reason.contains("no field is that new"))
    }

    @Test func vectorsNeedALimit() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "clear_performance_counters") { message in
                message["fields"] = [field("counters", "vector<u64>", since: 1)]
            }
        }
        #expect(reason.contains("needs a max"))
    }

    @Test func unknownTypes() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "destroy_context") { $0["fields"] = [field("context_id", "u33", since: 1)] }
        }
        #expect(reason.contains("unknown type 'u33'"))
    }

    @Test func replyMustGoTheOtherWay() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "flush") { $0["reply"] = "destroy_context" }
        }
        #expect(reason.contains("sent the other way"))
    }

    @Test func bitsMembersAreSingleBits() throws {
        let reason = try rejection { tree in
            var enums = tree["enums"] as! [[String: Any]]
            let index = enums.firstIndex { $0["name"] as? String == "map_flags" }!
            var members = enums[index]["members"] as! [[String: Any]]
            members.append(["name": "read_write", "value": 3, "doc": "test"])
            enums[index]["members"] = members
            tree["enums"] = enums
        }
        #expect(reason.contains("must be one bit"))
    }

    @Test func aGrownStructCannotBeInline() throws {
        let reason = try rejection { tree in
            var structs = tree["structs"] as! [[String: Any]]
            let index = structs.firstIndex { $0["name"] as? String == "buffer_range" }!
            structs[index]["version"] = 2
            structs[index]["fields"] = (structs[index]["fields"] as! [[String: Any]]) + [field("tag", "u64", since: 2, extra: ["default": 0])]
            tree["structs"] = structs
        }
        #expect(reason.contains("only vectors may hold it"))
    }

    @Test func handlesStayOutOfStructs() throws {
        let reason = try rejection { tree in
            var structs = tree["structs"] as! [[String: Any]]
            structs[0]["fields"] = (structs[0]["fields"] as! [[String: Any]]) + [field("memory", "handle<buffer>", since: 1)]
            tree["structs"] = structs
        }
        #expect(reason.contains("handles travel only in message fields"))
    }

    @Test func namesAreSnakeCase() throws {
        let reason = try rejection { tree in
            try editMessage(&tree, "primary", "flush") { $0["name"] = "Flush" }
        }
        #expect(reason.contains("names are snake_case"))
    }
}
