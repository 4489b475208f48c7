/*
   Citizen data leaving in the clear. YARA finds candidates by shape; a validator in CityShield
   confirms each one (meta "validator") and the rule alerts only when at least "min_valid"
   distinct values are confirmed in one scan: one ID in a form a citizen submits is normal, a
   page of them is a leak. Alerts show only the last four characters of each value.
*/

rule CityShield_Citizen_Resident_ID_Bulk
{
    meta:
        description = "Several valid mainland resident ID numbers in clear text (possible bulk leak of citizen records)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "data_leak"
        mitre_attack = "T1041 T1530"
        validator = "cn_resident_id"
        min_valid = 3
    strings:
        // 18 characters between non-digits: province 1-8, area, birth date 19xx/20xx, sequence,
        // check digit or X. (No ^ or $ alternatives: they cost a third of the speed; the chunk
        // overlap covers stream boundaries and a bulk leak has more than the first value.)
        $id = /[^0-9][1-8][0-9]{5}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx][^0-9]/
    condition:
        #id >= 3
}

rule CityShield_Citizen_Payment_Card_Bulk
{
    meta:
        description = "Several valid payment card numbers in clear text (possible bulk leak of card data)"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "data_leak"
        mitre_attack = "T1041 T1530"
        validator = "payment_card"
        min_valid = 3
    strings:
        // 13 to 19 digits between non-digits, opening with a card network's prefix. Digits only:
        // dumps and API responses store them so, and allowing grouping separators halves the
        // scan speed of the whole pack (bench/yara.py).
        $card = /[^0-9](4|5[1-5]|2[2-7]|3[47]|35|6[025])[0-9]{11,17}[^0-9]/
    condition:
        #card >= 3
}
