; disktest.asm - tiny v86/SeaBIOS guest exercising every disk write path.
;
; Build: nasm -f bin disktest.asm -o disktest.bin
;
; Disk layout (512-byte sectors, LBA):
;   0          boot sector (loads LBA 1..STAGE2_SECTORS to 0x7E00)
;   1..15      stage 2 code
;   10  (CNT)  boot counter sector: "CNTR" + dword counter  (outside the
;              code, see CNT_LBA check below)
;   20..21     written with int 13h AH=03h (CHS)
;   30..33     written with int 13h AH=43h (EDD extended write)
;   40..43     written with ATA PIO WRITE SECTORS (0x30, LBA28)
;   50..57     written with ATA WRITE DMA (0xCA) via the PCI bus master
;
; Pattern of every written sector: byte i of LBA L = (counter + L + i) & 0xFF
;
; Serial (COM1) output, one line:
;   "DONE <counter> BM=<bm base> W82=.. W83=.. W85=.. W86=..\n"  or
;   "FAIL <stage letter> <counter>\n"

bits 16
org 0x7c00

STAGE2_SECTORS equ 8           ; LBA 1..8 (must stay below CNT_LBA)
CNT_LBA   equ 10
CHS_LBA   equ 20
CHS_N     equ 2
EXT_LBA   equ 30
EXT_N     equ 4
PIO_LBA   equ 40
PIO_N     equ 4
DMA_LBA   equ 50
DMA_N     equ 8

WBUF_SEG  equ 0x1000            ; phys 0x10000: data to write
RBUF_SEG  equ 0x2000            ; phys 0x20000: data read back
PRDT_ADDR equ 0x0600            ; phys address of the PRD table

COM1      equ 0x3f8
ATA_DATA  equ 0x1f0
ATA_SC    equ 0x1f2
ATA_LBA0  equ 0x1f3
ATA_LBA1  equ 0x1f4
ATA_LBA2  equ 0x1f5
ATA_DEV   equ 0x1f6
ATA_CMD   equ 0x1f7             ; write: command, read: status
ATA_CTL   equ 0x3f6             ; write: device control, read: alt status

%if STAGE2_SECTORS + 1 > CNT_LBA
%error "stage 2 overlaps the counter sector"
%endif

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov [drive], dl
    ; load stage 2 with int 13h AH=42h
    mov word [dap+2], STAGE2_SECTORS
    mov word [dap+4], 0x7e00
    mov word [dap+6], 0
    mov dword [dap+8], 1
    mov dword [dap+12], 0
    mov si, dap
    mov ah, 0x42
    mov dl, [drive]
    int 0x13
    jc .fail
    jmp stage2
.fail:
    mov si, msg_bootfail
    call puts
halt:
    cli
    hlt
    jmp halt

; ds:si -> zero-terminated string to COM1
puts:
    push ax
    push dx
    mov dx, COM1
.l: lodsb
    test al, al
    jz .e
    out dx, al
    jmp .l
.e: pop dx
    pop ax
    ret

drive        db 0x80
msg_bootfail db "FAIL boot", 10, 0
align 4
dap          times 16 db 0

times 510-($-$$) db 0
dw 0xaa55

; ---------------------------------------------------------------- stage 2
stage2:
    ; ---- A: read, increment and write back the boot counter (LBA 10)
    mov byte [stage], 'A'
    mov eax, CNT_LBA
    mov cx, 1
    mov bx, RBUF_SEG
    call bios_read
    jc fail
    push ds
    mov ax, RBUF_SEG
    mov ds, ax
    xor ebx, ebx
    cmp dword [0], 'CNTR'
    jne .nocnt
    mov ebx, [4]
.nocnt:
    pop ds
    inc ebx
    mov [counter], ebx
    ; build the new counter sector in WBUF
    mov ax, WBUF_SEG
    mov es, ax
    xor di, di
    xor ax, ax
    mov cx, 256
    rep stosw
    mov dword [es:0], 'CNTR'
    mov [es:4], ebx
    mov eax, CNT_LBA
    mov cx, 1
    mov bx, WBUF_SEG
    call bios_write
    jc fail

    ; ---- B: CHS write with int 13h AH=03h
    mov byte [stage], 'B'
    mov ah, 0x08                    ; get drive parameters
    mov dl, [drive]
    xor di, di
    mov es, di
    int 0x13
    jc fail
    mov al, cl
    and ax, 0x3f
    mov [spt], ax
    movzx ax, dh
    inc ax
    mov [heads], ax
    mov ax, WBUF_SEG
    mov es, ax
    mov ax, CHS_LBA
    mov cx, CHS_N
    call fill
    ; LBA -> CHS: cyl = lba/(spt*heads), head = (lba/spt)%heads, sec = lba%spt+1
    mov ax, CHS_LBA
    xor dx, dx
    div word [spt]                  ; ax = lba/spt, dx = lba%spt
    inc dx
    mov cl, dl                      ; sector (1-based)
    xor dx, dx
    div word [heads]                ; ax = cyl, dx = head
    mov dh, dl
    mov ch, al                      ; cyl low
    shl ah, 6
    or cl, ah                       ; cyl bits 8-9
    mov dl, [drive]
    xor bx, bx                      ; es:bx = WBUF_SEG:0
    mov ax, 0x0300 | CHS_N
    int 0x13
    jc fail

    ; ---- C: extended write with int 13h AH=43h
    mov byte [stage], 'C'
    mov ax, WBUF_SEG
    mov es, ax
    mov ax, EXT_LBA
    mov cx, EXT_N
    call fill
    mov eax, EXT_LBA
    mov cx, EXT_N
    mov bx, WBUF_SEG
    call bios_write
    jc fail

    ; ---- D: find the IDE bus master base in PCI config space
    mov byte [stage], 'D'
    call find_bm
    jc fail

    ; ---- E: IDENTIFY DEVICE (PIO), remember words 82/83/85/86
    mov byte [stage], 'E'
    cli                             ; we talk to the controller directly now
    mov dx, ATA_CTL
    mov al, 0x02                    ; nIEN: no interrupts
    out dx, al
    call wait_nbsy
    mov dx, ATA_DEV
    mov al, 0xa0
    out dx, al
    call wait_nbsy
    mov dx, ATA_CMD
    mov al, 0xec
    out dx, al
    call wait_drq
    jc fail
    mov ax, RBUF_SEG
    mov es, ax
    xor di, di
    mov dx, ATA_DATA
    mov cx, 256
    rep insw
    mov ax, [es:82*2]
    mov [w82], ax
    mov ax, [es:83*2]
    mov [w83], ax
    mov ax, [es:85*2]
    mov [w85], ax
    mov ax, [es:86*2]
    mov [w86], ax
    call wait_nbsy
    call check_err
    jc fail

    ; ---- F: ATA PIO WRITE SECTORS (0x30), LBA28
    mov byte [stage], 'F'
    mov ax, WBUF_SEG
    mov es, ax
    mov ax, PIO_LBA
    mov cx, PIO_N
    call fill
    mov eax, PIO_LBA
    mov cl, PIO_N
    call ata_setup
    mov dx, ATA_CMD
    mov al, 0x30
    out dx, al
    push ds
    mov ax, WBUF_SEG
    mov ds, ax
    xor si, si
    mov bx, PIO_N
.pio_sect:
    call wait_drq                   ; uses only dx/al/flags
    jc .pio_err
    mov dx, ATA_DATA
    mov cx, 256
    rep outsw
    dec bx
    jnz .pio_sect
    pop ds
    call wait_nbsy
    call check_err
    jc fail
    jmp .pio_ok
.pio_err:
    pop ds
    jmp fail
.pio_ok:

    ; ---- G: ATA WRITE DMA (0xCA) through the bus master, 2 PRDs
    mov byte [stage], 'G'
    mov ax, WBUF_SEG
    mov es, ax
    mov ax, DMA_LBA
    mov cx, DMA_N
    call fill
    mov bl, 0x00                    ; bus master direction: memory -> disk
    mov al, 0xca
    call ata_dma
    jc fail

    ; ---- H: FLUSH CACHE (0xE7) and FLUSH CACHE EXT (0xEA)
    mov byte [stage], 'H'
    mov al, 0xe7
    call ata_nodata
    jc fail
    mov byte [stage], 'I'
    mov al, 0xea
    call ata_nodata
    jc fail

    ; ---- J: read the DMA region back with ATA READ DMA (0xC8)
    mov byte [stage], 'J'
    mov ax, RBUF_SEG                ; clear the read buffer first
    mov es, ax
    xor di, di
    xor ax, ax
    mov cx, DMA_N*256
    rep stosw
    mov bl, 0x08                    ; bus master direction: disk -> memory
    mov al, 0xc8
    call ata_dma_rd
    jc fail
    mov ax, DMA_LBA
    mov cx, DMA_N
    call verify
    jc fail
    sti

    ; ---- K..O: read everything back through the BIOS and compare
    mov byte [stage], 'K'
    mov eax, CHS_LBA
    mov cx, CHS_N
    call bios_read_verify
    jc fail
    mov byte [stage], 'L'
    mov eax, EXT_LBA
    mov cx, EXT_N
    call bios_read_verify
    jc fail
    mov byte [stage], 'M'
    mov eax, PIO_LBA
    mov cx, PIO_N
    call bios_read_verify
    jc fail
    mov byte [stage], 'N'
    mov eax, DMA_LBA
    mov cx, DMA_N
    call bios_read_verify
    jc fail
    mov byte [stage], 'O'           ; counter sector
    mov eax, CNT_LBA
    mov cx, 1
    mov bx, RBUF_SEG
    call bios_read
    jc fail
    mov ax, RBUF_SEG
    mov es, ax
    cmp dword [es:0], 'CNTR'
    jne fail
    mov eax, [es:4]
    cmp eax, [counter]
    jne fail

    ; ---- success
    mov si, msg_done
    call puts
    mov eax, [counter]
    call hex32
    mov si, msg_bm
    call puts
    mov ax, [bm_base]
    call hex16
    mov si, msg_w82
    call puts
    mov ax, [w82]
    call hex16
    mov si, msg_w83
    call puts
    mov ax, [w83]
    call hex16
    mov si, msg_w85
    call puts
    mov ax, [w85]
    call hex16
    mov si, msg_w86
    call puts
    mov ax, [w86]
    call hex16
    mov si, msg_nl
    call puts
    jmp halt

fail:
    xor ax, ax
    mov ds, ax
    mov si, msg_fail
    call puts
    mov al, [stage]
    mov dx, COM1
    out dx, al
    mov al, ' '
    out dx, al
    mov eax, [counter]
    call hex32
    mov si, msg_nl
    call puts
    jmp halt

; ------------------------------------------------------------ BIOS helpers
; eax = lba, cx = count, bx = segment (offset 0); CF on error
bios_read:
    mov byte [dap_ah], 0x42
    jmp bios_rw
bios_write:
    mov byte [dap_ah], 0x43
bios_rw:
    mov byte [dap2], 16
    mov byte [dap2+1], 0
    mov [dap2+2], cx
    mov word [dap2+4], 0
    mov [dap2+6], bx
    mov [dap2+8], eax
    mov dword [dap2+12], 0
    mov si, dap2
    mov ah, [dap_ah]
    mov al, 0                       ; AH=43h: AL=0 write without verify
    mov dl, [drive]
    int 0x13
    ret

; eax = lba, cx = count: read into RBUF and compare with the pattern
bios_read_verify:
    push eax
    push cx
    mov bx, RBUF_SEG
    call bios_read
    pop cx
    pop eax
    jc .r
    push ax
    mov ax, RBUF_SEG
    mov es, ax
    pop ax
    call verify
.r: ret

; es = segment, ax = first lba, cx = sectors: fill es:0.. with the pattern
fill:
    xor di, di
    mov bl, [counter]
    add bl, al
.s: push cx
    xor dx, dx
.b: mov al, bl
    add al, dl
    stosb
    inc dx
    cmp dx, 512
    jb .b
    inc bl
    pop cx
    loop .s
    ret

; es = segment, ax = first lba, cx = sectors: compare, CF=1 on mismatch
verify:
    xor di, di
    mov bl, [counter]
    add bl, al
.s: push cx
    xor dx, dx
.b: mov al, bl
    add al, dl
    cmp [es:di], al
    jne .bad
    inc di
    inc dx
    cmp dx, 512
    jb .b
    inc bl
    pop cx
    loop .s
    clc
    ret
.bad:
    pop cx
    stc
    ret

; ------------------------------------------------------------- ATA helpers
wait_nbsy:                          ; clobbers dx, al
    mov dx, ATA_CMD
.l: in al, dx
    test al, 0x80
    jnz .l
    ret

wait_drq:                           ; CF=1 if ERR/DF instead of DRQ
    mov dx, ATA_CMD
.l: in al, dx
    test al, 0x80
    jnz .l
    test al, 0x21
    jnz .e
    test al, 0x08
    jz .l
    clc
    ret
.e: stc
    ret

check_err:                          ; CF=1 if status has ERR or DF
    mov dx, ATA_CMD
    in al, dx
    test al, 0x21
    jnz .e
    clc
    ret
.e: stc
    ret

; eax = lba (28 bit), cl = sector count; selects master in LBA mode
ata_setup:
    push eax
    call wait_nbsy
    pop eax
    push eax
    shr eax, 24
    and al, 0x0f
    or al, 0xe0
    mov dx, ATA_DEV
    out dx, al
    call wait_nbsy
    mov dx, ATA_SC
    mov al, cl
    out dx, al
    pop eax
    mov dx, ATA_LBA0
    out dx, al
    shr eax, 8
    mov dx, ATA_LBA1
    out dx, al
    shr eax, 8
    mov dx, ATA_LBA2
    out dx, al
    ret

; al = command without data transfer (flush); CF on error
ata_nodata:
    push ax
    call wait_nbsy
    mov dx, ATA_DEV
    mov al, 0xe0
    out dx, al
    call wait_nbsy
    pop ax
    mov dx, ATA_CMD
    out dx, al
    mov dx, ATA_CTL                 ; 400ns delay
    in al, dx
    in al, dx
    in al, dx
    in al, dx
    call wait_nbsy
    call check_err
    ret

; DMA write of DMA_N sectors at DMA_LBA from phys WBUF; al = command,
; bl = bus master direction bit
ata_dma:
    mov ecx, WBUF_SEG*16
    jmp ata_dma_common
ata_dma_rd:
    mov ecx, RBUF_SEG*16
ata_dma_common:
    push ax
    ; PRD table: two entries of DMA_N*256 bytes each
    mov [PRDT_ADDR], ecx
    mov word [PRDT_ADDR+4], DMA_N*256
    mov word [PRDT_ADDR+6], 0
    add ecx, DMA_N*256
    mov [PRDT_ADDR+8], ecx
    mov word [PRDT_ADDR+12], DMA_N*256
    mov word [PRDT_ADDR+14], 0x8000 ; end of table
    mov dx, [bm_base]
    mov al, 0                       ; stop bus master
    out dx, al
    add dx, 2
    mov al, 0x06                    ; clear error + interrupt bits
    out dx, al
    add dx, 2
    mov eax, PRDT_ADDR
    out dx, eax                     ; v86 only accepts 32-bit writes here
    mov eax, DMA_LBA
    mov cl, DMA_N
    call ata_setup
    pop ax
    mov dx, ATA_CMD
    out dx, al
    mov dx, [bm_base]
    mov al, bl
    out dx, al                      ; set direction first
    or al, 1
    out dx, al                      ; start
    mov dx, [bm_base]
    add dx, 2
    mov ecx, 100000000
.poll:
    in al, dx
    test al, 0x01                   ; active?
    jz .done
    test al, 0x02                   ; error?
    jnz .err
    dec ecx
    jnz .poll
    jmp .err
.done:
    test al, 0x02
    jnz .err
    mov dx, [bm_base]
    mov al, 0
    out dx, al                      ; stop
    call wait_nbsy
    call check_err
    ret
.err:
    mov dx, [bm_base]
    mov al, 0
    out dx, al
    stc
    ret

; find the PCI IDE controller (class 01 subclass 01) on bus 0, read BAR4
; and enable I/O + bus mastering. CF on failure
find_bm:
    xor bx, bx                      ; device number
.dev:
    mov eax, 0x80000008
    movzx ecx, bx
    shl ecx, 11
    or eax, ecx
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    shr eax, 16
    cmp ax, 0x0101
    je .found
    inc bx
    cmp bx, 32
    jb .dev
    stc
    ret
.found:
    mov eax, 0x80000020             ; BAR4
    or eax, ecx
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    test al, 1                      ; must be an I/O BAR
    jz .no
    and ax, 0xfffc
    jz .no
    mov [bm_base], ax
    mov eax, 0x80000004             ; command register
    or eax, ecx
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 0x0005                   ; I/O space + bus master
    out dx, ax
    clc
    ret
.no:
    stc
    ret

; ------------------------------------------------------------ hex output
hex32:                              ; eax
    push eax
    shr eax, 16
    call hex16
    pop eax
hex16:                              ; ax
    push ax
    mov al, ah
    call hex8
    pop ax
hex8:                               ; al
    push ax
    shr al, 4
    call hex4
    pop ax
hex4:
    push ax
    push dx
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .o
    add al, 'a' - '9' - 1
.o: mov dx, COM1
    out dx, al
    pop dx
    pop ax
    ret

; ------------------------------------------------------------------ data
msg_done  db "DONE ", 0
msg_bm    db " BM=", 0
msg_w82   db " W82=", 0
msg_w83   db " W83=", 0
msg_w85   db " W85=", 0
msg_w86   db " W86=", 0
msg_fail  db "FAIL ", 0
msg_nl    db 10, 0
align 4
counter   dd 0
dap2      times 16 db 0
dap_ah    db 0
stage     db '?'
spt       dw 0
heads     dw 0
bm_base   dw 0
w82       dw 0
w83       dw 0
w85       dw 0
w86       dw 0

%if ($-$$) > (STAGE2_SECTORS+1)*512
%error "stage 2 too big"
%endif
times (STAGE2_SECTORS+1)*512-($-$$) db 0
