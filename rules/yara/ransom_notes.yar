/*
   Ransom notes: the text a ransomware operator leaves on encrypted systems or serves from a
   defaced portal. A note combines a statement that files are encrypted, a way to pay and a way
   to make contact; each alone is common in ordinary text.
*/

rule CityShield_Ransom_Note
{
    meta:
        description = "Ransomware note: files encrypted, payment and contact instructions"
        author = "CityShield"
        date = "2026-03-02"
        severity = "critical"
        category = "ransomware"
        mitre_attack = "T1486"
    strings:
        $enc1 = /(all\s+)?your\s+(important\s+)?(files|documents|data|network|servers?)(\s+\w+){0,3}\s+(have\s+been|has\s+been|were|are)\s+(encrypted|locked)/ nocase
        $enc2 = /files\s+(are|were|have\s+been)\s+encrypted/ nocase
        $enc3 = "\xe6\x96\x87\xe4\xbb\xb6\xe5\xb7\xb2\xe8\xa2\xab\xe5\x8a\xa0\xe5\xaf\x86" // 文件已被加密
        $enc4 = "\xe6\x95\xb0\xe6\x8d\xae\xe5\xb7\xb2\xe8\xa2\xab\xe5\x8a\xa0\xe5\xaf\x86" // 数据已被加密
        $pay1 = /\b(bitcoin|btc|monero|xmr)\b/ nocase
        $pay3 = "\xe6\xaf\x94\xe7\x89\xb9\xe5\xb8\x81" // 比特币
        $pay4 = /(pay|payment|ransom)\b/ nocase
        $contact1 = /[a-z2-7]{16}([a-z2-7]{40})?\.onion/ nocase
        $contact2 = /tor\s*browser/ nocase
        $contact3 = /\b(decrypt(or|ion)?|restore)\s+(tool|key|software|your\s+files)/ nocase
        $contact4 = /\b(qtox|tox\s*id|session\s*id|jabber|protonmail|onionmail|tutanota)\b/ nocase
        $contact5 = "\xe8\xa7\xa3\xe5\xaf\x86" // 解密
        $warn = /(do\s+not|don't)\s+(rename|modify|delete|try\s+to\s+decrypt|contact\s+(the\s+)?police|use\s+third)/ nocase
    condition:
        any of ($enc*) and any of ($pay*) and (any of ($contact*) or $warn)
}
