import Foundation
import ProtocolGenerator
import Testing

/// The spec's mesaApi section (the C API of Mesa's lineage) is checked as strictly as the
/// protocols: each rule rejects a section that breaks it, with a reason.
@Suite("The spec's Mesa API section is validated")
struct MesaApiValidationTests {
    /// The loader's complaint about the committed spec with its mesaApi section edited.
    private func rejection(_ edit: (inout [String: Any]) throws -> Void) throws -> String {
        let data = try Data(contentsOf: packageRoot.appending(path: Generator.specPath))
        var tree = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var section = try #require(tree["mesaApi"] as? [String: Any])
        try edit(&section)
        tree["mesaApi"] = section
        let edited = try JSONSerialization.data(withJSONObject: tree)
        do {
            _ = try ProtocolSpec(json: edited)
        } catch {
            return error.description
        }
        Issue.record("the edited spec was accepted")
        return ""
    }

    /// Edits struct `name` of the section.
    private func editStruct(_ section: inout [String: Any], _ name: String, _ edit: (inout [String: Any]) -> Void) throws {
        var structs = try #require(section["structs"] as? [[String: Any]])
        let index = try #require(structs.firstIndex { $0["name"] as? String == name })
        edit(&structs[index])
        section["structs"] = structs
    }

    @Test func anExtensibleStructNeedsItsOwnStructureType() throws {
        let reason = try rejection { section in
            try editStruct(&section, "magma_submit_info") { $0["stype"] = 11 }
        }
        #expect(reason.contains("magma_submit_info: stype must be the value of structure_type.submit_info"))
    }

    @Test func aFieldMayNotShadowTheExtensibleHeader() throws {
        let reason = try rejection { section in
            try editStruct(&section, "magma_create_sync_obj_info") { type in
                type["fields"] = (type["fields"] as? [[String: Any]] ?? []) + [["name": "next", "type": "uint32_t", "doc": "test"]]
            }
        }
        #expect(reason.contains("field of magma_create_sync_obj_info next declared twice"))
    }

    @Test func unknownTypesAreRejected() throws {
        let reason = try rejection { section in
            try editStruct(&section, "magma_sync_point") { type in
                type["fields"] = [["name": "sync_obj", "type": "magma_sync_object_t", "doc": "test"]]
            }
        }
        #expect(reason.contains("magma_sync_point.sync_obj: unknown type 'magma_sync_object_t'"))
    }

    @Test func anArrayCountMustBeAConstant() throws {
        let reason = try rejection { section in
            try editStruct(&section, "magma_physical_device_info") { type in
                var fields = type["fields"] as? [[String: Any]] ?? []
                if let index = fields.firstIndex(where: { $0["name"] as? String == "name" }) { fields[index]["count"] = "MAGMA_NAME_BYTES" }
                type["fields"] = fields
            }
        }
        #expect(reason.contains("magma_physical_device_info.name: unknown count MAGMA_NAME_BYTES"))
    }

    @Test func twoCallsMayNotClaimOneMesaName() throws {
        let reason = try rejection { section in
            var functions = try #require(section["functions"] as? [[String: Any]])
            let index = try #require(functions.firstIndex { $0["name"] as? String == "magma_sync_obj_reset" })
            functions[index]["mesa"] = "magma_sync_obj_signal"
            section["functions"] = functions
        }
        #expect(reason.contains("Mesa name magma_sync_obj_signal declared twice"))
    }

    @Test func unknownKeysAreRejected() throws {
        let reason = try rejection { section in
            try editStruct(&section, "magma_heap_budget") { $0["extensable"] = "out" }
        }
        #expect(reason.contains("unknown key 'extensable'"))
    }
}
