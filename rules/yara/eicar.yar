/*
   The EICAR anti-malware test file (https://www.eicar.org/download-anti-malware-testfile/):
   68 bytes of printable text that every scanner must flag, used to test that detection and
   alerting work end to end. The standard allows up to 128 bytes, trailing whitespace only.
*/

rule CityShield_EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file"
        author = "CityShield"
        date = "2026-03-02"
        severity = "low"
        category = "test"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar
}
